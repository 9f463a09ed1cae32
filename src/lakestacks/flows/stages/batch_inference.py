"""The batch inference stage: score a table with the champion."""

from __future__ import annotations

from lakestacks.flows.batch_inference import BatchResult, batch_inference
from lakestacks.flows.context import RunContext
from lakestacks.flows.pipeline import PipelineResult
from lakestacks.flows.stage import BaseStage, Summary
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name
from lakestacks.spec.plan import PlanStep

__all__ = ["BatchInference"]


class BatchInference(BaseStage):
    """Score ``deployment.batch.input`` into ``deployment.batch.output``."""

    name = "batch_inference"
    order = 60
    deployed = True  # scheduled or triggered on its own, e.g. nightly scoring

    def applies(self, resolved: ResolvedStack) -> bool:
        """When the stack trains a model and scores a batch."""
        spec = resolved.stack
        return (
            spec.training is not None
            and spec.deployment is not None
            and spec.deployment.batch is not None
        )

    def describe(self, resolved: ResolvedStack) -> PlanStep:
        """The input table and the champion read; the output table written."""
        spec, cat = resolved.stack, resolved.catalog
        assert spec.deployment is not None and spec.deployment.batch is not None  # noqa: S101
        batch = spec.deployment.batch
        model = cat.model_name(model_short_name(spec.name, spec.deployment))
        return PlanStep(
            self.name,
            [cat.qualify(batch.input), f"{model}@champion"],
            [cat.qualify(batch.output)],
            f"mode {batch.mode}",
        )

    def run(self, ctx: RunContext, state: PipelineResult) -> BatchResult:
        """Score."""
        return batch_inference(ctx)

    def summary(self, result: BatchResult) -> Summary:
        """What was scored with which version, into which table version; what was imputed
        and which rows were refused (a null in a required column)."""
        b = result
        rows = f"{b.rows:,} rows" + (f", {b.scored:,} scored" if b.refused else "")
        lines: Summary = [
            f"batch: scored {b.input} v{b.input_version} with {b.model}/{b.version} "
            f"-> {b.output} v{b.output_version} ({rows})"
        ]
        if b.imputed:
            lines.append(
                f"batch: {b.imputed:,} scored row(s) had missing values imputed as in training "
                f"({_counts(b.imputed_values)})"
            )
        if b.refused:
            lines.append(
                f"batch: {b.refused:,} row(s) refused, left unscored with the reason in "
                f"'refused': a null in a column the model needs ({_counts(b.refused_values)})"
            )
        return lines


def _counts(by_column: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in by_column.items())
