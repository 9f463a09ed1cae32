"""The approval stage: the gates' verdict and the approval mode decide what happens to the
new version (promote, keep, reject or wait for a person)."""

from __future__ import annotations

from lakestacks import registry
from lakestacks.flows.context import RunContext
from lakestacks.flows.evaluation import EvaluationResult
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.promotion import Decision, RunStatus, approval, command_hint
from lakestacks.flows.stage import BaseStage, Summary
from lakestacks.flows.stages._registry_state import evaluated, newest
from lakestacks.flows.training import TrainingResult
from lakestacks.gates import verdict
from lakestacks.registry import VersionStatus
from lakestacks.spec import ResolvedStack
from lakestacks.spec.plan import PlanStep

__all__ = ["Approval", "earlier_decision"]

_STATES = {
    RunStatus.PROMOTED: "approved ({by}) and promoted",
    RunStatus.KEPT: "not promoted: the champion is still better",
    RunStatus.REJECTED: "rejected by a gate",
    RunStatus.AWAITING_APPROVAL: "awaiting approval (alias @challenger)",
    RunStatus.UNCHANGED: "nothing to approve: nothing changed",
}


class Approval(BaseStage):
    """Apply the approval mode to the gates' verdict."""

    name = "approval"
    order = 40
    schedulable = False  # it acts on an evaluation; the pipeline or `stacks approve` runs it

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack trains a model."""
        return resolved.stack.training is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """Gate results read; version tags and the audit written."""
        approval_ = resolved.stack.approval
        who = f" by {', '.join(approval_.approvers)}" if approval_.approvers else ""
        record = ["version tags", resolved.catalog.qualify("_audit")]
        return PlanStep(self.name, ["gate results"], record, f"{approval_.mode}{who}")

    def flow(self) -> tuple[str, ...]:
        """Run alone, an approved version is also deployed."""
        return ("approval", "deployment")

    def rebuild(self, ctx: RunContext, state: PipelineResult) -> None:
        """The newest evaluated version, or approved one: an approval whose promotion did not
        finish (a crash) is completed, not lost."""
        found = newest(ctx, VersionStatus.EVALUATED, VersionStatus.APPROVED)
        state.rebuilt["evaluation"] = evaluated(found)

    def run(self, ctx: RunContext, state: PipelineResult) -> Decision:
        """Decide; a reused version that an earlier run decided keeps that decision."""
        candidate = state.training
        if state.status == RunStatus.UNCHANGED and candidate is not None:
            return _unchanged(ctx, candidate)
        done = earlier_decision(ctx, candidate) if "training" in state.resumed else None
        if done is None:
            ev = state.evaluation
            if ev is None:
                assert candidate is not None  # noqa: S101 - training ran or was reused
                ev = _no_gates(ctx, candidate)
            done = ctx.runner.step("approval", approval, ctx, ev)
        state.status = done.status
        return done

    def summary(self, result: Decision) -> Summary:
        """How the approval ended."""
        return [f"approval: {_STATES[result.status].format(by=result.approved_by)}"]


def _unchanged(ctx: RunContext, champion: TrainingResult) -> Decision:
    again = command_hint(ctx, "run", "--force")
    return Decision(
        RunStatus.UNCHANGED, champion.model, champion.version, champion.version,
        champion.version,
        f"nothing changed: the champion v{champion.version} was trained on the same data, "
        f"stack and code; nothing was retrained (`{again}` retrains)",
    )  # fmt: skip


def earlier_decision(ctx: RunContext, trained: TrainingResult | None) -> Decision | None:
    """What an earlier run decided for a reused version that is already the champion or
    awaits approval: judging it again would compare it with itself or approve it twice."""
    if trained is None:
        return None
    status = ctx.registry.read_record(trained.model, trained.version).status
    champion = ctx.registry.alias_version(trained.model, registry.CHAMPION)
    name, version = trained.model, trained.version
    if status == VersionStatus.CHAMPION and champion == version:
        return Decision(
            RunStatus.PROMOTED, name, version, champion, champion,
            f"v{version} is the champion (promoted by the run being resumed)",
        )  # fmt: skip
    if status == VersionStatus.AWAITING_APPROVAL:
        return Decision(
            RunStatus.AWAITING_APPROVAL, name, version, champion, champion,
            f"v{version} still awaits approval: "
            + command_hint(ctx, "approve", ctx.catalog.short(name), str(version), "--by", "NAME"),
        )  # fmt: skip
    return None


def _no_gates(ctx: RunContext, trained: TrainingResult) -> EvaluationResult:
    """Without an evaluation section there is nothing to gate on: the version passes."""
    champion = ctx.registry.alias_version(trained.model, registry.CHAMPION)
    ctx.registry.write_record(
        trained.model, trained.version, compared_champion=champion, gates="none"
    )
    return EvaluationResult(
        trained.model,
        trained.version,
        trained.run_id,
        champion,
        {},
        None,
        [],
        verdict([], "off"),
        table=trained.table,
        table_version=trained.inputs.get(trained.table, 0),
    )
