"""The ``monitoring`` section: the inference table watched window by window against a baseline."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from lakestacks.spec._base import Column, Name, SpecModel

__all__ = ["BreachRule", "DriftSpec", "LabelsSpec", "MonitoringSection", "granularity_seconds"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_GRANULARITY = re.compile(r"(\d+)\s*([smhd])")


def granularity_seconds(text: str) -> int:
    """``30m``, ``1h`` or ``1d`` in seconds.

    Raises:
        ValueError: not a count and a unit (s, m, h, d).
    """
    match = _GRANULARITY.fullmatch(text.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"granularity {text!r} is not a duration like 15m, 1h or 1d")
    return int(match[1]) * _UNITS[match[2]]


class DriftSpec(SpecModel):
    """Which test decides that a column drifted."""

    method: Literal["auto", "ks", "chi2", "z", "wasserstein", "js", "psi"] = Field(
        "auto",
        description="auto picks per column as Evidently does: KS (numbers) and Z or "
        "chi-squared (categories) for a baseline of at most 1,000 rows, else the normed "
        "Wasserstein and Jensen-Shannon distances.",
    )
    threshold: float | None = Field(
        None,
        gt=0,
        le=10,
        description="The p-value below which (ks, chi2, z) or the distance above which "
        "(wasserstein 0.1, js 0.1, psi 0.2) a column drifts; default per test (p 0.05).",
    )
    columns: list[Column] | None = Field(
        None, description="Columns to watch (also `monitoring.columns`); default: features."
    )


class BreachRule(SpecModel):
    """When windows of drift become a breach."""

    windows: int = Field(3, ge=1, description="A breach: this many violating windows ...")
    of: int = Field(5, ge=1, description="... among the last this many.")
    drift_share: float = Field(
        0.5, gt=0, le=1, description="A window violates when this share of its columns drift."
    )

    @field_validator("of")
    @classmethod
    def _of_covers_windows(cls, of: int, info: object) -> int:
        windows = getattr(info, "data", {}).get("windows", 1)
        if of < windows:
            raise ValueError(f"rule.of ({of}) must be at least rule.windows ({windows})")
        return of


class LabelsSpec(SpecModel):
    """Where ground truth arrives, to measure quality per window once it does."""

    table: Name = Field(description="The table of labels, appended as they arrive.")
    key: Column = Field(
        "request_id", description="The column both tables share: a request id or a business key."
    )
    target: Column | None = Field(None, description="The label column; default: training.target.")


class MonitoringSection(SpecModel):
    """Compare the inference table's windows with the baseline and act on a breach."""

    table: Name = Field(description="The table of live rows, usually the inference table.")
    baseline: Name | None = Field(
        None,
        description="What normal data looks like (its train split when it has one); default: "
        "the table the champion trained on, at the version it trained on.",
    )
    timestamp: Column = Field("timestamp", description="The column that places rows in windows.")
    granularity: str = Field("1d", description="The window length: 15m, 1h, 1d ...")
    columns: list[Column] | None = Field(
        None, description="Columns to watch; default: the model's features and its prediction."
    )
    slices: list[Column] = Field(
        default_factory=list,
        description="Columns whose values each get their own profile and drift rows "
        "(contract=month ...); the whole window decides breaches.",
    )
    drift: DriftSpec = Field(default_factory=DriftSpec, description="The drift test.")
    rule: BreachRule = Field(default_factory=BreachRule, description="When drift is a breach.")
    labels: LabelsSpec | None = Field(
        None, description="Ground truth joined per window: realised quality beside the estimate."
    )
    on_breach: Literal["retrain", "alert", "none"] = Field(
        "alert", description="What a breach triggers."
    )

    @field_validator("granularity")
    @classmethod
    def _duration(cls, value: str) -> str:
        granularity_seconds(value)
        return value
