"""The evaluation flow: score the challenger and the champion on the same test rows, then
decide every gate.

Both models are loaded from the registry as MLflow pyfuncs, the way batch scoring and
serving load them, so the numbers gates see are the numbers users get.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from lakestacks import registry
from lakestacks.data.split import read_split
from lakestacks.errors import UserError
from lakestacks.evaluation import compute_metrics, load_custom_metrics
from lakestacks.events import EventType
from lakestacks.flows._records import record_decisions
from lakestacks.flows.context import RunContext
from lakestacks.flows.training import TrainingResult
from lakestacks.gates import decide
from lakestacks.training.features import encode_target

__all__ = ["EvaluationResult", "evaluation"]

TAG = registry.TAG


@dataclass
class EvaluationResult:
    """Metrics of challenger and champion on one test split, and the gate decisions."""

    model: str
    version: int
    run_id: str
    champion_version: int | None
    metrics: dict[str, float]
    champion_metrics: dict[str, float] | None
    decisions: list[dict[str, Any]]
    mode: str = "enforce"
    rows: int = 0
    table: str = ""
    table_version: int = 0
    # Derived from the decisions, so a result rebuilt from a version's tags says the same.
    passed: bool = field(init=False)
    blocking: list[str] = field(init=False)
    blocked_only_by_champion: bool = field(init=False)

    def __post_init__(self) -> None:
        blocking = [d for d in self.decisions if not d["passed"] and d["mode"] == "enforce"]
        self.passed = not blocking
        self.blocking = [d["gate"] for d in blocking]
        self.blocked_only_by_champion = bool(blocking) and all(
            d["kind"] == "vs_champion" for d in blocking
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
    y_true = encode_target(test[training.target], trained.task)  # type: ignore[arg-type]
    frame = test.to_pandas()  # each model takes the columns of its signature
    custom = load_custom_metrics(section, resolved.search_path)

    def metrics_of(version: int) -> dict[str, float]:
        model = ctx.registry.load_model(trained.model, version)
        out = model.predict(frame)
        column = "probability" if trained.task == "classification" else "prediction"
        y_pred = out[column].to_numpy(dtype="float64")
        task: Any = trained.task
        return compute_metrics([*section.metrics, *custom], y_true, y_pred, task, custom)

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
    failed = any(not d.passed for d in decisions)
    gates = {"off": "off", "dry_run": "failed (dry run)", "enforce": "failed"}[section.mode]
    if not failed and section.mode != "off":
        gates = "passed"

    run = registry.RunHandle(trained.run_id, "")
    run.log_metrics({f"test_{k}": v for k, v in metrics.items() if not math.isnan(v)})
    if champion_metrics:
        run.log_metrics(
            {f"champion_test_{k}": v for k, v in champion_metrics.items() if not math.isnan(v)}
        )
    run.log_dict({"decisions": records, "champion_version": champion}, "evaluation.json")
    reg.set_version_tags(
        trained.model,
        trained.version,
        {
            f"{TAG}metrics": metrics,
            f"{TAG}champion_metrics": champion_metrics or {},
            f"{TAG}compared_champion": str(champion) if champion else "none",
            f"{TAG}gates": gates,
            f"{TAG}decisions": records,
            f"{TAG}status": "evaluated",
        },
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
        decisions=records,
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
