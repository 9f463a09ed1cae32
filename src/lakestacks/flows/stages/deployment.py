"""The deployment stage: promote an approved version, compare-and-set."""

from __future__ import annotations

from lakestacks.flows.context import RunContext
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.promotion import Decision, RunStatus, deploy
from lakestacks.flows.stage import BaseStage, Summary
from lakestacks.flows.stages._registry_state import evaluated, newest
from lakestacks.registry import VersionStatus
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name
from lakestacks.spec.plan import PlanStep

__all__ = ["Deployment"]


class Deployment(BaseStage):
    """Move ``@champion`` to the approved version (and the old one to ``@previous``)."""

    name = "deployment"
    order = 50
    schedulable = False  # it acts on an approval

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack trains a model."""
        return resolved.stack.training is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The approved candidate read; the aliases written."""
        spec, cat = resolved.stack, resolved.catalog
        model = cat.model_name(model_short_name(spec.name, spec.deployment))
        return PlanStep(
            self.name,
            ["approved candidate"],
            [f"{model}@champion", f"{model}@previous"],
            "compare-and-set promotion",
        )

    def flow(self) -> tuple[str, ...]:
        """Run alone, the newest evaluated version is approved first."""
        return ("approval", "deployment")

    def rebuild(self, ctx: RunContext, state: PipelineResult) -> None:
        """The newest evaluated version, or approved one: an approval whose promotion did not
        finish (a crash) is completed, not lost."""
        found = newest(ctx, VersionStatus.EVALUATED, VersionStatus.APPROVED)
        state.rebuilt["evaluation"] = evaluated(found)

    def run(self, ctx: RunContext, state: PipelineResult) -> Decision | None:
        """Promote what approval approved; nothing when it did not."""
        decision = state.decision
        if decision is None or decision.status != RunStatus.PROMOTED:
            return None
        if decision.champion_after is not None:
            return None  # already the champion (a resumed run)
        return ctx.runner.step("deployment", deploy, ctx, decision)

    def summary(self, result: Decision) -> Summary:
        """Nothing beyond approval's line and the champion at the end."""
        return []
