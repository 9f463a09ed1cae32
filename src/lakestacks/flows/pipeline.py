"""The pipeline: every registered stage that applies to the stack, in order, as steps of one
flow run; and one stage as a flow of its own.

Nothing here names a stage: the stages come from :mod:`lakestacks.flows.stage`. A stage run
on its own first rebuilds what the stages before it would have passed (``evaluation``
judges the newest trained version, ``approval`` and ``deployment`` act on the newest
evaluated one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TypeVar

from lakestacks import registry
from lakestacks.evaluation import load_custom_metrics
from lakestacks.events import EventType
from lakestacks.flows import resume
from lakestacks.flows.batch_inference import BatchResult
from lakestacks.flows.context import RunContext
from lakestacks.flows.data_prep import DataPrepResult
from lakestacks.flows.evaluation import EvaluationResult
from lakestacks.flows.promotion import Decision, RunStatus
from lakestacks.flows.stage import Stage, Summary, check_flow, plan, registered
from lakestacks.flows.training import TrainingResult
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import load_ref

__all__ = ["EXIT_CODES", "PipelineResult", "pipeline", "stage"]

EXIT_CODES = {RunStatus.REJECTED: 3, RunStatus.AWAITING_APPROVAL: 4}
T = TypeVar("T")


@dataclass
class PipelineResult:
    """Every stage's result by name (in the order they ran), and how the run ended.

    Attributes:
        results: Each stage that did something, with its typed result.
        status: How the run ended; a stage (approval) sets it.
        champion: The champion version after the run.
        model: The model the run judged or scored with (None when no model was involved).
        resumed: Stages reused from an earlier run.
        seconds: Time per stage.
        later: Stages of this stack that land in a later release (skipped).
        rebuilt: What a stage run alone picked up from the registry in place of the results
            of the stages before it (not shown as results of this run).
        keys: Each stage's key (see :mod:`lakestacks.flows.resume`), for stages that have one.
        summaries: Each result as its stage summarises it, for the CLI and the flow report.
        unchanged: Stages that found their result already made (and record nothing new).
    """

    results: dict[str, object] = field(default_factory=dict)
    status: RunStatus = RunStatus.DONE
    champion: int | None = None
    model: str | None = None
    resumed: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    later: list[str] = field(default_factory=list)
    rebuilt: dict[str, object] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    summaries: dict[str, Summary] = field(default_factory=dict)

    @property
    def stages(self) -> list[str]:
        """The stages that ran (or were reused), in order."""
        return list(self.results)

    @property
    def halted(self) -> bool:
        """True once a gate rejected the version or it awaits approval: later stages wait."""
        return self.status in (RunStatus.REJECTED, RunStatus.AWAITING_APPROVAL)

    @property
    def exit_code(self) -> int:
        """0 done (promoted or kept), 3 rejected by a gate, 4 awaiting approval."""
        return EXIT_CODES.get(self.status, 0)

    def of(self, name: str, kind: type[T]) -> T | None:
        """The result of stage ``name`` (run, reused or rebuilt) if it is a ``kind``."""
        result = self.results.get(name, self.rebuilt.get(name))
        return result if isinstance(result, kind) else None

    @property
    def data_prep(self) -> DataPrepResult | None:
        """What data prep wrote."""
        return self.of("data_prep", DataPrepResult)

    @property
    def training(self) -> TrainingResult | None:
        """The version training registered."""
        return self.of("training", TrainingResult)

    @property
    def evaluation(self) -> EvaluationResult | None:
        """The metrics and gate decisions."""
        return self.of("evaluation", EvaluationResult)

    @property
    def decision(self) -> Decision | None:
        """What happened to the new version (after deployment, when it ran)."""
        return self.of("deployment", Decision) or self.of("approval", Decision)

    @property
    def batch(self) -> BatchResult | None:
        """The batch scoring."""
        return self.of("batch_inference", BatchResult)


def pipeline(ctx: RunContext) -> PipelineResult:
    """Run every stage that applies, in order; stop at a rejection or a pending approval.

    With ``ctx.resume``, stages that an earlier run completed with the same key are reused
    instead of run again (see :mod:`lakestacks.flows.resume`).

    Example:
        >>> body = lambda r: pipeline(RunContext(s, r))  # doctest: +SKIP
        >>> result, _ = run_flow("churn", body, "direct")  # doctest: +SKIP
        >>> result.status, result.champion  # doctest: +SKIP
        ('promoted', 1)
    """
    _preflight(ctx.resolved)
    out = PipelineResult()
    for stage_, step in plan(ctx.resolved):
        if step.later:
            out.later.append(stage_.name)
        elif not out.halted:
            _run(ctx, stage_, out, ctx.resume)
    _champion(ctx, out)
    _report(ctx, out, "pipeline")
    return out


def stage(ctx: RunContext, name: str) -> PipelineResult:
    """Run one stage as its own flow (with the stages its flow includes), picking up the
    model's state from the registry."""
    check_flow(ctx.resolved, name)
    stages = {s.name: s for s in registered()}
    out = PipelineResult()
    names = stages[name].flow()
    stages[names[0]].rebuild(ctx, out)
    for each in names:
        next_stage = stages[each]
        if next_stage.applies(ctx.resolved) and not out.halted:
            _run(ctx, next_stage, out, resume_=False)
    _champion(ctx, out)
    _report(ctx, out, name)
    return out


def _run(ctx: RunContext, stage_: Stage, out: PipelineResult, resume_: bool) -> None:
    """Run (or reuse) one stage and put its result in ``out``."""
    start = time.perf_counter()
    events = ctx.dispatcher
    events.before_stage(stage_.name, ctx.resolved)
    events.emit(events.event(EventType.STAGE_STARTED, stage=stage_.name))
    try:
        result = _run_or_reuse(ctx, stage_, out, resume_)
    except BaseException as exc:
        events.on_error(stage_.name, exc)
        events.emit(
            events.event(
                EventType.STAGE_FAILED,
                stage=stage_.name,
                message=f"{type(exc).__name__}: {exc}",
            )
        )
        raise
    finally:
        out.seconds[stage_.name] = time.perf_counter() - start
    events.after_stage(stage_.name, result)
    reused = " (reused)" if stage_.name in out.resumed else ""
    events.emit(
        events.event(
            EventType.STAGE_FINISHED,
            stage=stage_.name,
            message=f"{stage_.name} {'done' if result is not None else 'had nothing to do'}"
            + reused,
            details={"seconds": round(out.seconds[stage_.name], 3)},
        )
    )
    if result is not None:
        out.results[stage_.name] = result
        out.summaries[stage_.name] = stage_.summary(result)


def _run_or_reuse(
    ctx: RunContext, stage_: Stage, out: PipelineResult, resume_: bool
) -> object | None:
    inputs = stage_.resume_inputs(ctx, out)
    key = None if inputs is None else resume.stage_key(ctx.resolved, stage_, inputs)
    if key is not None:
        out.keys[stage_.name] = key
    result = None
    if resume_ and key is not None:
        found = resume.recorded(ctx.resolved, stage_.name, key)
        result = None if found is None else stage_.reuse(ctx, found)
        if result is not None:
            out.resumed.append(stage_.name)
    if result is None:
        result = stage_.run(ctx, out)
        if result is not None and key is not None and stage_.name not in out.unchanged:
            resume.record(ctx.resolved, stage_.name, key, result)
    return result


def _champion(ctx: RunContext, out: PipelineResult) -> None:
    """The champion after a run that trained or judged a version."""
    if out.training is None and out.decision is None:
        return
    out.model = ctx.model
    out.champion = ctx.registry.alias_version(ctx.model, registry.CHAMPION)


def _report(ctx: RunContext, out: PipelineResult, flow: str) -> None:
    """The run's summary as markdown on the flow run (Prefect's UI shows it)."""
    spec = ctx.resolved.stack
    lines = [f"# {spec.name} {flow} (env {ctx.env}): {out.status}", ""]
    for name, blocks in out.summaries.items():
        lines += [f"## {name} ({out.seconds.get(name, 0.0):.1f} s)", ""]
        for block in blocks:
            lines += (
                [f"- {block}"]
                if isinstance(block, str)
                else [
                    f"**{block.title}**",
                    "",
                    "| " + " | ".join(block.columns) + " |",
                    "|" + "---|" * len(block.columns),
                    *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                      for row in block.rows),
                    "",
                ]
            )  # fmt: skip
        lines.append("")
    if out.model is not None:
        champion = f"v{out.champion}" if out.champion else "none"
        lines.append(f"champion: `{out.model}@champion` = {champion}")
    if out.decision is not None and out.decision.message:
        lines += ["", out.decision.message]
    key = "-".join(part.replace("_", "-") for part in (spec.name, ctx.env, flow))
    ctx.runner.report(key.lower(), "\n".join(lines) + "\n")


def _preflight(resolved: ResolvedStack) -> None:
    """Import the user's model, metric and gate functions before any table or version is
    written, so a broken reference fails the run with nothing half-done."""
    spec, search = resolved.stack, resolved.search_path
    if spec.training is not None:
        load_ref(spec.training.model, search)
    if spec.evaluation is not None:
        load_custom_metrics(spec.evaluation, search)
        for gate in spec.evaluation.gates:
            if gate.function:
                load_ref(gate.function, search)
