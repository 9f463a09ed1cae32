"""The ``monitoring`` section: drift between a baseline and live traffic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakestacks.spec._base import Column, Name, SpecModel

__all__ = ["DriftSpec", "MonitoringSection"]


class DriftSpec(SpecModel):
    """How drift is measured and when it counts as a breach."""

    method: Literal["psi", "ks", "js"] = Field("psi", description="The drift statistic.")
    threshold: float = Field(gt=0, le=10, description="Drift above this is a breach.")
    columns: list[Column] | None = Field(None, description="Columns to watch; default: features.")


class MonitoringSection(SpecModel):
    """Compare recent inference rows with the baseline and act on drift."""

    baseline: Name = Field(description="The table that shows what normal data looks like.")
    table: Name = Field(description="The table of live rows, usually the inference table.")
    drift: DriftSpec = Field(description="Drift statistic and threshold.")
    on_breach: Literal["retrain", "alert", "none"] = Field(
        "alert", description="What a breach triggers."
    )
