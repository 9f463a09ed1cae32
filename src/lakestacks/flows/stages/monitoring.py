"""The monitoring stage: validated and planned now; it runs once the monitoring flow lands."""

from __future__ import annotations

from lakestacks.flows.stage import BaseStage
from lakestacks.spec import ResolvedStack
from lakestacks.spec.plan import PlanStep

__all__ = ["Monitoring"]


class Monitoring(BaseStage):
    """Drift of the inference table against the baseline."""

    name = "monitoring"
    order = 70
    schedulable = False
    later = True

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack has a monitoring section."""
        return resolved.stack.monitoring is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The baseline and inference tables read; a drift report written."""
        mon, cat = resolved.stack.monitoring, resolved.catalog
        assert mon is not None  # noqa: S101 - applies() checked
        return PlanStep(
            self.name,
            [cat.qualify(mon.baseline), cat.qualify(mon.table)],
            ["drift report"],
            f"{mon.drift.method} > {mon.drift.threshold:g} -> {mon.on_breach}",
            later=True,
        )
