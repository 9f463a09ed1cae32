"""The training stage: fit on the pinned splits, log the run, register a version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from lakestacks import registry
from lakestacks.flows._records import stack_digest
from lakestacks.flows.context import RunContext
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.promotion import RunStatus
from lakestacks.flows.resume import recorded
from lakestacks.flows.stage import BaseStage, Summary
from lakestacks.flows.training import (
    TrainingResult,
    reap_killed_runs,
    training,
    training_inputs,
)
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
        """Train and register, unless the champion was trained on the same data, stack and
        code (its key matches): then the champion is the result and nothing is retrained."""
        reaped = reap_killed_runs(ctx)  # the next command after a kill -9 says so
        same = None if ctx.force else _champion_with_key(ctx, state.keys.get(self.name))
        if same is not None:
            state.status = RunStatus.UNCHANGED
            state.unchanged.append(self.name)
            return replace(same, reaped=reaped, unchanged=True)
        return replace(training(ctx), reaped=reaped)

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
        if t.unchanged:
            return [
                f"not retrained: {t.model}/{t.version}, the champion, was trained on the same "
                "data, stack and code (--force retrains)",
                *t.reaped,
            ]
        rows = ", ".join(f"{k} {v:,}" for k, v in t.rows.items())
        inputs = ", ".join(f"{k} v{v}" for k, v in t.inputs.items())
        return [
            f"trained {t.model}/{t.version} ({t.task}, {t.epochs} epochs, {t.device}) on {inputs}"
            + (f": {rows}" if rows else ""),
            *t.reaped,
        ]


def _champion_with_key(ctx: RunContext, key: str | None) -> TrainingResult | None:
    """The champion's training result, when the champion was trained under ``key`` from this
    very stack file: an edit anywhere in it (a gate, the approval mode) trains and judges a
    new version as before, while a rerun with nothing changed reuses the champion."""
    if key is None:
        return None
    found = recorded(ctx.resolved, "training", key)
    if found is None or found.get("model") != ctx.model:
        return None
    if found.get("digest") != stack_digest(ctx.resolved):
        return None
    if ctx.registry.alias_version(ctx.model, registry.CHAMPION) != found.get("version"):
        return None
    return TrainingResult(**found)
