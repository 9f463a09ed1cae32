"""The evaluation stage: challenger and champion on the same test rows, then the gates."""

from __future__ import annotations

from lakestacks.flows.context import RunContext
from lakestacks.flows.evaluation import EvaluationResult, evaluation
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.promotion import RunStatus
from lakestacks.flows.stage import BaseStage, Summary, SummaryTable
from lakestacks.flows.stages._registry_state import newest, trained
from lakestacks.flows.stages.approval import earlier_decision
from lakestacks.registry import VersionStatus
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name, split_table
from lakestacks.spec.plan import PlanStep

__all__ = ["Evaluation"]


class Evaluation(BaseStage):
    """Score the new version and the champion; decide every gate."""

    name = "evaluation"
    order = 30

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack trains and has an evaluation section."""
        spec = resolved.stack
        return spec.training is not None and spec.evaluation is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The test split, candidate and champion read; metrics and decisions written."""
        spec, cat = resolved.stack, resolved.catalog
        assert spec.training is not None and spec.evaluation is not None  # noqa: S101
        table = cat.qualify(spec.training.table or split_table(spec.data) or "")
        model = cat.model_name(model_short_name(spec.name, spec.deployment))
        section = spec.evaluation
        return PlanStep(
            self.name,
            [f"{table} (test)", "candidate", f"{model}@champion"],
            ["metrics on the candidate's run and version", cat.qualify("_decisions")],
            f"{', '.join(section.metrics)}; {len(section.gates)} gate(s), mode {section.mode}",
        )

    def rebuild(self, ctx: RunContext, state: PipelineResult) -> None:
        """The newest trained version."""
        state.rebuilt["training"] = trained(ctx, newest(ctx, VersionStatus.TRAINED))

    def run(self, ctx: RunContext, state: PipelineResult) -> EvaluationResult | None:
        """Judge the version training produced; a reused version that an earlier run
        already decided is not judged again (it would be compared with itself)."""
        candidate = state.training
        assert candidate is not None  # noqa: S101 - training ran, was reused or rebuilt
        if state.status == RunStatus.UNCHANGED:
            return None  # the champion itself: nothing to judge
        if "training" in state.resumed and earlier_decision(ctx, candidate) is not None:
            return None
        return evaluation(ctx, candidate)

    def summary(self, result: EvaluationResult) -> Summary:
        """Metrics side by side with the champion's, and each gate's decision."""
        ev = result
        out: Summary = []
        if ev.metrics:
            champion = (
                f"champion v{ev.champion_version}" if ev.champion_version else "champion (none)"
            )
            metrics = SummaryTable(
                f"test metrics ({ev.rows:,} rows)",
                ("metric", f"challenger v{ev.version}", champion),
                right=(f"challenger v{ev.version}", champion),
            )
            for name, value in ev.metrics.items():
                other = (ev.champion_metrics or {}).get(name)
                metrics.rows.append((name, f"{value:.4f}", "" if other is None else f"{other:.4f}"))
            out.append(metrics)
        if ev.decisions:
            gates = SummaryTable(
                f"gates ({ev.mode})",
                ("gate", "observed", "threshold", "result", "why"),
                right=("observed", "threshold"),
            )
            for d in ev.decisions:
                observed = "" if d.observed is None else f"{d.observed:.4f}"
                threshold = "" if d.threshold is None else f"{d.threshold:.4f}"
                verdict = "pass" if d.passed else "fail"
                gates.rows.append((d.gate, observed, threshold, verdict, d.reason))
            out.append(gates)
        return out
