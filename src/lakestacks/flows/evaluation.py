"""The evaluation flow: score the challenger and the champion on the same test rows, then
decide every gate.

Both models are loaded from the registry as MLflow pyfuncs, the way batch scoring and
serving load them, so the numbers gates see are the numbers users get.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from lakestacks import registry
from lakestacks.data.split import read_split
from lakestacks.errors import UserError
from lakestacks.evaluation import curve_plots, load_custom_metrics
from lakestacks.events import EventType
from lakestacks.flows._records import record_decisions
from lakestacks.flows.context import RunContext
from lakestacks.flows.training import TrainingResult, run_name, split_inputs
from lakestacks.gates import Decision, Verdict, decide, verdict
from lakestacks.registry import VersionStatus
from lakestacks.tasks import task_kind

__all__ = ["EvaluationResult", "evaluation"]


@dataclass
class EvaluationResult:
    """Metrics of challenger and champion on one test split, the gate decisions and their
    verdict (``gates.verdict``: the one place a mode turns decisions into pass or block).

    ``curves`` holds the challenger's curves as data (``TaskKind.curves``), also logged as
    the run's ``evaluation/curves.json``, so reports redraw them without scoring again.
    """

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
    curves: dict[str, Any] = field(default_factory=dict)

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
        """The result as JSON-safe data (decisions as ``_decisions`` rows; the curves stay in
        the run's ``evaluation/curves.json``)."""
        record = asdict(self)
        del record["curves"]
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


Scored = tuple[dict[str, float], dict[str, float] | None, int, dict[str, Any]]


def score(ctx: RunContext, trained: TrainingResult, champion: int | None) -> Scored:
    """Metrics of the challenger and of ``champion`` (if any) on the pinned test split, the
    test rows, and the challenger's curves."""
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

    def predictions(version: int) -> Any:
        return kind.predictions(ctx.registry.load_model(trained.model, version), test)

    def metrics_of(y_pred: Any) -> dict[str, float]:
        return kind.metrics([*section.metrics, *custom], y_true, y_pred, custom)

    y_pred = predictions(trained.version)
    champion_metrics = metrics_of(predictions(champion)) if champion else None
    return metrics_of(y_pred), champion_metrics, test.num_rows, kind.curves(y_true, y_pred)


def judge(
    ctx: RunContext,
    trained: TrainingResult,
    champion: int | None,
    scored: Scored,
) -> EvaluationResult:
    """Decide the gates, then record metrics and decisions on the run, the version and
    ``_decisions``; the test split, the curves and their charts on the run."""
    resolved, reg = ctx.resolved, ctx.registry
    section = resolved.stack.evaluation
    assert section is not None  # noqa: S101
    metrics, champion_metrics, rows, curves = scored
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
    _log_test_and_curves(ctx, trained, run, curves)
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
        curves=curves,
    )


def _log_test_and_curves(
    ctx: RunContext, trained: TrainingResult, run: registry.RunHandle, curves: dict[str, Any]
) -> None:
    """The test split as the run's dataset input, the curves as data and as SVG charts."""
    training = ctx.resolved.stack.training
    assert training is not None  # noqa: S101 - the caller checked
    version = trained.inputs[trained.table]
    columns = [*trained.features, training.target]
    run.log_inputs(split_inputs(ctx.resolved, trained.table, version, columns, {"test": "test"}))
    if not curves:
        return
    run.log_dict(curves, "evaluation/curves.json")
    title = run_name(ctx.resolved, trained.version)
    for file, svg in curve_plots(curves, title).items():
        run.log_text(svg, f"evaluation/{file}")


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
