"""The training stage: fit on the pinned splits, log the run, register a version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lakestacks import registry
from lakestacks.flows.context import RunContext
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.stage import BaseStage, Summary
from lakestacks.flows.training import TrainingResult, training, training_inputs
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name, split_table
from lakestacks.spec.plan import PlanStep

__all__ = ["Training"]


class Training(BaseStage):
    """Train the stack's model and register it as a new version."""

    name = "training"
    order = 20
    sections = ("data", "training")

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack has a training section."""
        return resolved.stack.training is not None

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The split table read; the run and the new version written."""
        spec, cat = resolved.stack, resolved.catalog
        assert spec.training is not None  # noqa: S101 - applies() checked
        table = cat.qualify(spec.training.table or split_table(spec.data) or "")
        model = cat.model_name(model_short_name(spec.name, spec.deployment))
        return PlanStep(
            self.name,
            [f"{table} (train, validation)"],
            [
                f"MLflow run in experiment {spec.training.experiment or spec.name}",
                f"model {model} (new version)",
            ],
            f"{spec.training.model}, max_epochs {spec.training.trainer.max_epochs}",
        )

    def run(self, ctx: RunContext, state: PipelineResult) -> TrainingResult:
        """Train and register."""
        return training(ctx)

    def resume_inputs(self, ctx: RunContext, state: PipelineResult) -> object | None:
        """The training table's version."""
        return sorted(training_inputs(ctx.resolved).items())

    def reuse(self, ctx: RunContext, recorded: Mapping[str, Any]) -> TrainingResult | None:
        """The recorded version, if it is still registered."""
        try:
            ctx.registry.get_version(recorded["model"], recorded["version"])
        except registry.ModelNotFound:
            return None
        return TrainingResult(**recorded)

    def summary(self, result: TrainingResult) -> Summary:
        """The version, what it trained on, and where."""
        t = result
        rows = ", ".join(f"{k} {v:,}" for k, v in t.rows.items())
        inputs = ", ".join(f"{k} v{v}" for k, v in t.inputs.items())
        return [
            f"trained {t.model}/{t.version} ({t.task}, {t.epochs} epochs, {t.device}) on {inputs}"
            + (f": {rows}" if rows else "")
        ]
