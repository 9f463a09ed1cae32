"""The ``evaluation`` section: metrics and the gates a candidate model must pass."""

from __future__ import annotations

from typing import Any, Literal, Self, get_args

from pydantic import Field, model_validator

from lakestacks.spec._base import Name, Ref, SpecModel
from lakestacks.spec.data import MODE_DESCRIPTION, Mode

__all__ = [
    "CLASSIFICATION",
    "LOWER_IS_BETTER",
    "METRICS",
    "CustomMetric",
    "EvaluationSection",
    "Gate",
]

Metric = Literal[
    "roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss",
    "rmse", "mae", "r2", "mape",
]  # fmt: skip
METRICS: tuple[str, ...] = get_args(Metric)
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae", "mape"})
# What each built-in metric can be (None: unbounded): a gate outside it can never pass.
_RANGES: dict[str, tuple[float | None, float | None]] = {
    **dict.fromkeys(("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1"), (0.0, 1.0)),
    "r2": (None, 1.0),
    **dict.fromkeys(("log_loss", "rmse", "mae", "mape"), (0.0, None)),
}
CLASSIFICATION = frozenset(
    {"roc_auc", "pr_auc", "f1", "accuracy", "precision", "recall", "log_loss"}
)


class CustomMetric(SpecModel):
    """A metric computed by the user's ``function(y_true, y_pred) -> float``.

    For a classifier ``y_pred`` is P(y=1); for a regressor, the predicted value.
    """

    function: Ref = Field(description="'module:function' taking (y_true, y_pred) numpy arrays.")
    greater_is_better: bool = Field(
        True, description="False when lower is better; flips 'vs: champion' gates."
    )


class Gate(SpecModel):
    """A threshold (``min``/``max``), a comparison with the champion (``vs: champion``),
    or the user's own gate function."""

    metric: str | None = Field(
        None, min_length=1, description="A metric of evaluation.metrics or custom_metrics."
    )
    min: float | None = Field(None, description="Pass when the metric is >= this.")
    max: float | None = Field(None, description="Pass when the metric is <= this.")
    vs: Literal["champion"] | None = Field(None, description="Compare with the current champion.")
    min_delta: float | None = Field(
        None, description="With vs: champion, the least absolute improvement (default 0)."
    )
    min_delta_rel: float | None = Field(
        None, ge=-1, le=10, description="With vs: champion, the least relative improvement."
    )
    allow_tie: bool = Field(
        False,
        description="With vs: champion, let a challenger that only equals the champion pass; "
        "by default a tie keeps the champion.",
    )
    function: Ref | None = Field(
        None,
        description="A custom gate 'module:function'(challenger, champion, **params) returning "
        "a bool or (bool, reason); challenger and champion are metric dicts (champion None "
        "for the first model).",
    )
    name: Name | None = Field(None, description="The gate's name in decisions; default derived.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for a custom gate function."
    )

    @property
    def label(self) -> str:
        """How decisions name this gate, e.g. ``roc_auc >= 0.75`` or ``roc_auc vs champion``."""
        if self.name:
            return self.name
        if self.function:
            return self.function
        if self.vs:
            return f"{self.metric} vs champion"
        bounds = [
            f">= {self.min:g}" if self.min is not None else "",
            f"<= {self.max:g}" if self.max is not None else "",
        ]
        return f"{self.metric} {' and '.join(b for b in bounds if b)}"

    @model_validator(mode="after")
    def _shape(self) -> Self:
        if self.function is not None:
            if self.metric or self.vs or self.min is not None or self.max is not None:
                raise ValueError(
                    "a custom gate takes 'function' (and 'name', 'params'), not metric bounds"
                )
            return self
        if self.params:
            raise ValueError("'params' applies to custom gates ('function') only")
        if self.metric is None:
            raise ValueError("a gate needs 'metric' (with min/max or vs: champion) or 'function'")
        return self._metric_shape()

    def _metric_shape(self) -> Self:
        if self.vs is None:
            if self.min is None and self.max is None:
                raise ValueError("a gate needs 'min', 'max', or 'vs: champion' with a 'min_delta'")
            if self.min_delta is not None or self.min_delta_rel is not None:
                raise ValueError("'min_delta' and 'min_delta_rel' need 'vs: champion'")
            if self.allow_tie:
                raise ValueError("'allow_tie' needs 'vs: champion'")
            if self.min is not None and self.max is not None and self.min > self.max:
                raise ValueError(f"min ({self.min}) is above max ({self.max}): no value can pass")
            low, high = _RANGES.get(self.metric or "", (None, None))
            if self.min is not None and high is not None and self.min > high:
                raise ValueError(
                    f"min {self.min:g}: no value can pass, {self.metric} is at most {high:g}"
                )
            if self.max is not None and low is not None and self.max < low:
                raise ValueError(
                    f"max {self.max:g}: no value can pass, {self.metric} is at least {low:g}"
                )
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
    custom_metrics: dict[Name, CustomMetric] = Field(
        default_factory=dict, description="Metrics computed by your functions, by name."
    )
    gates: list[Gate] = Field(default_factory=list, description="Checks a candidate must pass.")
    mode: Mode = Field("enforce", description=MODE_DESCRIPTION)

    def lower_is_better(self, metric: str) -> bool:
        """Whether a smaller value of ``metric`` (built-in or custom) is the better one."""
        custom = self.custom_metrics.get(metric)
        return (not custom.greater_is_better) if custom else metric in LOWER_IS_BETTER
