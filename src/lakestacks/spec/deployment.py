"""The ``deployment`` section: the registered model, batch scoring and real-time serving."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakestacks.spec._base import Name, SpecModel

__all__ = ["BatchSpec", "DeploymentSection", "ServingSpec"]


class BatchSpec(SpecModel):
    """Score a table with the champion and write the predictions to another."""

    input: Name = Field(description="The table to score.")
    output: Name = Field(description="The table predictions are written to.")
    mode: Literal["overwrite", "append"] = Field("overwrite", description="How output is written.")


class ServingSpec(SpecModel):
    """A REST endpoint for the champion."""

    inference_table: Name | None = Field(
        None, description="Log each scored row to this table; omit to log nothing."
    )
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")


class DeploymentSection(SpecModel):
    """Where the model is registered and how it is served."""

    model: Name = Field(description="The registered model's short name, e.g. 'churn_model'.")
    batch: BatchSpec | None = Field(None, description="Batch scoring after promotion.")
    serving: ServingSpec | None = Field(None, description="Real-time serving settings.")
