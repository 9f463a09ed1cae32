"""The evaluation flow: score the challenger and the champion on the same test rows, then
decide every gate.

Both models are loaded from the registry as MLflow pyfuncs, the way batch scoring and
serving load them, so the numbers gates see are the numbers users get.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from lakestacks import registry
from lakestacks.data.split import read_split
from lakestacks.errors import UserError
from lakestacks.evaluation import load_custom_metrics
from lakestacks.events import EventType
from lakestacks.flows._records import record_decisions
from lakestacks.flows.context import RunContext
from lakestacks.flows.training import TrainingResult
from lakestacks.gates import Decision, Verdict, decide, verdict
from lakestacks.registry import VersionStatus
from lakestacks.tasks import task_kind

__all__ = ["EvaluationResult", "evaluation"]


@dataclass
class EvaluationResult:
    """Metrics of challenger and champion on one test split, the gate decisions and their
    verdict (``gates.verdict``: the one place a mode turns decisions into pass or block)."""

    model: str
    version: int
    run_id: str
    champion_version: int | None
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decisions: list[Decision]
    verdict: Verdict
    mode: str = "enforce"
    rows: int = 0
    table: str = ""
    table_version: int = 0

    @property
    def passed(self) -> bool:
        """False when an enforced gate failed."""
        return self.verdict.passed

    @property
    def blocking(self) -> list[str]:
        """The gates that stop promotion."""
        return [d.gate for d in self.verdict.blocking]

    @property
    def blocked_only_by_champion(self) -> bool:
        """Blocked, and only by ``vs: champion`` gates: nothing better, the champion stays."""
        blocking = self.verdict.blocking
        return bool(blocking) and all(d.kind == "vs_champion" for d in blocking)

    def to_record(self) -> dict[str, Any]:
        """The result as JSON-safe data (decisions as ``_decisions`` rows)."""
        record = asdict(self)
        record["decisions"] = [d.to_record() for d in self.decisions]
        record["verdict"] = {"passed": self.passed, "blocking": self.blocking}
        record["passed"] = self.passed
        return record

    @classmethod
    def from_record(
        cls, record: registry.VersionRecord, model: str, version: int, run_id: str
    ) -> EvaluationResult:
        """The evaluation a version's record holds (for a stage run on its own)."""
        decisions = [Decision(**d) for d in record.decisions]
        mode = decisions[0].mode if decisions else "off"
        return cls(
            model=model,
            version=version,
            run_id=run_id,
            champion_version=record.compared_champion,
            metrics=record.metrics,
            champion_metrics=record.champion_metrics or None,
            decisions=decisions,
            verdict=verdict(decisions, mode),
            mode=mode,
        )


def score(
    ctx: RunContext, trained: TrainingResult, champion: int | None
) -> tuple[dict[str, float], dict[str, float] | None, int]:
    """Metrics of the challenger and of ``champion`` (if any) on the pinned test split."""
    resolved = ctx.resolved
    spec = resolved.stack
    section, training = spec.evaluation, spec.training
    assert section is not None and training is not None  # noqa: S101 - the caller checked
    path = resolved.catalog.table_path(resolved.catalog.short(trained.table))
    test = read_split(path, "test", None, trained.inputs[trained.table])
    if test.num_rows == 0:
        raise UserError(f"the test split of {trained.table} is empty; set data.split.test > 0")
    kind = task_kind(trained.task)
    y_true = kind.truth(test, training.target)
    custom = load_custom_metrics(section, resolved.search_path)

    def metrics_of(version: int) -> dict[str, float]:
        y_pred = kind.predictions(ctx.registry.load_model(trained.model, version), test)
        return kind.metrics([*section.metrics, *custom], y_true, y_pred, custom)

    return metrics_of(trained.version), (metrics_of(champion) if champion else None), test.num_rows


def judge(
    ctx: RunContext,
    trained: TrainingResult,
    champion: int | None,
    scored: tuple[dict[str, float], dict[str, float] | None, int],
) -> EvaluationResult:
    """Decide the gates, then record metrics and decisions on the run, the version and
    ``_decisions``."""
    resolved, reg = ctx.resolved, ctx.registry
    section = resolved.stack.evaluation
    assert section is not None  # noqa: S101
    metrics, champion_metrics, rows = scored
    decisions = decide(
        section,
        metrics,
        champion_metrics,
        champion_version=champion,
        search_path=resolved.search_path,
    )
    records = [d.to_record() for d in decisions]
    judged = verdict(decisions, section.mode)
    gates = {"off": "off", "dry_run": "failed (dry run)", "enforce": "failed"}[section.mode]
    if not judged.recorded_failures and section.mode != "off":
        gates = "passed"

    run = registry.RunHandle(trained.run_id, "")
    run.log_metrics({f"test_{k}": v for k, v in metrics.items() if not math.isnan(v)})
    if champion_metrics:
        run.log_metrics(
            {f"champion_test_{k}": v for k, v in champion_metrics.items() if not math.isnan(v)}
        )
    run.log_dict({"decisions": records, "champion_version": champion}, "evaluation.json")
    reg.write_record(
        trained.model,
        trained.version,
        metrics=metrics,
        champion_metrics=champion_metrics or {},
        compared_champion=champion,
        gates=gates,
        decisions=records,
        status=VersionStatus.EVALUATED,
    )
    record_decisions(resolved.catalog, trained.model, trained.version, trained.run_id, records)
    ctx.dispatcher.emit(
        ctx.dispatcher.event(
            EventType.GATES_DECIDED,
            stage="evaluation",
            model=trained.model,
            version=trained.version,
            run_id=trained.run_id,
            message=f"v{trained.version}: gates {gates}",
            details={"gates": gates, "champion_version": champion, "mode": section.mode},
        )
    )
    return EvaluationResult(
        model=trained.model,
        version=trained.version,
        run_id=trained.run_id,
        champion_version=champion,
        metrics=metrics,
        champion_metrics=champion_metrics,
        decisions=decisions,
        verdict=judged,
        mode=section.mode,
        rows=rows,
        table=trained.table,
        table_version=trained.inputs[trained.table],
    )


def evaluation(ctx: RunContext, trained: TrainingResult) -> EvaluationResult:
    """Score the new version and the current champion on the test split; decide the gates.

    Example:
        >>> ev = evaluation(RunContext(resolved), trained)  # doctest: +SKIP
        >>> ev.passed, ev.champion_version  # doctest: +SKIP
        (True, None)
    """
    champion = ctx.registry.alias_version(trained.model, registry.CHAMPION)
    scored = ctx.runner.step("score", score, ctx, trained, champion)
    return ctx.runner.step("gates", judge, ctx, trained, champion, scored)
