"""The monitoring stage: the inference table's new windows against the baseline, and the
breach rule's action."""

from __future__ import annotations

from dataclasses import dataclass

from lakestacks.flows.context import RunContext
from lakestacks.flows.monitoring import MonitorResult, monitor
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.retrain import Retrain, retrain
from lakestacks.flows.stage import BaseStage, Summary, SummaryTable
from lakestacks.spec import ResolvedStack
from lakestacks.spec.plan import PlanStep

__all__ = ["Monitoring", "MonitoringOutcome"]


@dataclass(frozen=True)
class MonitoringOutcome:
    """The windows computed and, after a breach with ``on_breach: retrain``, the retrain."""

    monitor: MonitorResult
    retrain: Retrain | None = None


class Monitoring(BaseStage):
    """Profile and drift of the inference table's windows; retrain or alert on a breach."""

    name = "monitoring"
    order = 70
    sections = ("monitoring",)

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack has a monitoring section."""
        return resolved.stack.monitoring is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The baseline and the watched table read; the profile and drift tables written."""
        mon, cat = resolved.stack.monitoring, resolved.catalog
        assert mon is not None  # noqa: S101 - applies() checked
        short = cat.short(mon.table)
        baseline = cat.qualify(mon.baseline) if mon.baseline else "the champion's train split"
        rule = mon.rule
        return PlanStep(
            self.name,
            [baseline, cat.qualify(mon.table)],
            [cat.qualify(f"{short}_profile_metrics"), cat.qualify(f"{short}_drift_metrics")],
            f"{mon.granularity} windows, drift {mon.drift.method}; breach: {rule.windows} of "
            f"{rule.of} windows with >= {rule.drift_share:.0%} columns drifted -> "
            f"{mon.on_breach}",
        )

    def run(self, ctx: RunContext, state: PipelineResult) -> MonitoringOutcome:
        """Compute the new windows; retrain after a breach when the stack says so."""
        result = monitor(ctx, since=ctx.since)
        if result.action != "retrain":
            return MonitoringOutcome(result)
        trained = getattr(state.results.get("training"), "version", None)
        return MonitoringOutcome(result, retrain(ctx, trained))

    def summary(self, result: MonitoringOutcome) -> Summary:
        """A line per run, a table of the windows, and the breach and its action."""
        m = result.monitor
        lines: Summary = []
        labelled = (
            [f"monitoring: realised quality for {m.labelled} window(s), from labels that arrived"]
            if m.labelled
            else []
        )
        if m.note:
            return [f"monitoring: {m.note}", *labelled]
        table = SummaryTable(
            f"monitoring {m.table} against {m.baseline}",
            ("window", "rows", "drifted", "verdict"),
            right=("rows",),
        )
        for w in m.windows:
            drifted = ", ".join(w.drifted) if w.drifted else "-"
            verdict = "violates" if w.violates else "ok"
            share = f"{len(w.drifted)}/{w.columns} {drifted}"
            table.rows.append((f"{w.start:%Y-%m-%d %H:%M}", f"{w.rows:,}", share, verdict))
        lines.append(table)
        written = f"{m.profile_table}, {m.drift_table}"
        lines.append(f"monitoring: {len(m.windows)} window(s) -> {written}")
        lines += labelled
        if m.breach is not None:
            lines.append(
                f"monitoring: drift breach at the window from {m.breach.start:%Y-%m-%d %H:%M} "
                f"({', '.join(m.breach.drifted)}): {m.action}"
            )
        if result.retrain is not None:
            lines.append(f"monitoring: retrain {result.retrain.what}: {result.retrain.detail}")
        return lines
