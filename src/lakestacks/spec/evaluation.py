"""The ``evaluation`` section: metrics and the gates a candidate model must pass."""

from __future__ import annotations

from typing import Literal, Self, get_args

from pydantic import Field, model_validator

from lakestacks.spec._base import SpecModel
from lakestacks.spec.data import MODE_DESCRIPTION, Mode

__all__ = ["LOWER_IS_BETTER", "METRICS", "EvaluationSection", "Gate"]

Metric = Literal[
    "roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss",
    "rmse", "mae", "r2", "mape",
]  # fmt: skip
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})


class Gate(SpecModel):
    """A threshold (``min``/``max``) or a comparison with the champion (``vs: champion``)."""

    metric: Metric = Field(description="A metric listed in evaluation.metrics.")
    min: float | None = Field(None, description="Pass when the metric is >= this.")
    max: float | None = Field(None, description="Pass when the metric is <= this.")
    vs: Literal["champion"] | None = Field(None, description="Compare with the current champion.")
    min_delta: float | None = Field(
        None, description="With vs: champion, the least absolute improvement (default 0)."
    )
    min_delta_rel: float | None = Field(
        None, ge=-1, le=10, description="With vs: champion, the least relative improvement."
    )

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.vs is None:
            if self.min is None and self.max is None:
                raise ValueError("a gate needs 'min', 'max', or 'vs: champion' with a 'min_delta'")
            if self.min_delta is not None or self.min_delta_rel is not None:
                raise ValueError("'min_delta' and 'min_delta_rel' need 'vs: champion'")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min ({self.min}) is above max ({self.max}): no value can pass")
        else:
            if self.min is not None or self.max is not None:
                raise ValueError(
                    "with 'vs: champion' use 'min_delta' or 'min_delta_rel', not min/max"
                )
            if self.min_delta is not None and self.min_delta_rel is not None:
                raise ValueError("give 'min_delta' or 'min_delta_rel', not both")
        return self


class EvaluationSection(SpecModel):
    """How a candidate is scored on the test split and gated before promotion."""

    metrics: list[Metric] = Field(min_length=1, description="Metrics computed on the test split.")
    gates: list[Gate] = Field(default_factory=list, description="Checks a candidate must pass.")
    mode: Mode = Field("enforce", description=MODE_DESCRIPTION)
