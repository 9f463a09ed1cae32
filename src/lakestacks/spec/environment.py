"""The ``environments`` section: runtime settings per environment, and overlays of the stack."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from lakestacks.spec._base import SpecModel

__all__ = ["OVERLAY_SECTIONS", "Environment"]

OVERLAY_SECTIONS = (
    "data", "training", "evaluation", "approval", "deployment", "monitoring", "schedules",
)  # fmt: skip

_OVERLAY = (
    "Overlays the stack's section of the same name: mappings merge, lists and values replace."
)


class Environment(SpecModel):
    """Where an environment keeps its tables and runs; plus overlays of any stack section."""

    lake: str = Field(
        "./.lake",
        min_length=1,
        description="The lake root: a folder (relative to the stack) or URI.",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: SQLite in the lake, 'sqlite:///<lake>/mlflow.db'.",
    )
    registry_uri: str | None = Field(
        None, description="MLflow registry URI; default: tracking_uri."
    )
    work_pool: str | None = Field(
        None,
        description="Prefect work pool that runs this environment's deployments; default "
        "'process' (created as a process pool on first deploy).",
    )
    working_dir: str | None = Field(
        None,
        description="Where the project lives on the workers (e.g. '/app' in a Kubernetes "
        "image); default: this stack's folder, for a worker on this machine.",
    )
    job_variables: dict[str, Any] | None = Field(
        None,
        description="Job variables of the work pool's base job template, e.g. "
        "{image: ghcr.io/acme/churn:1.2, namespace: ml} for Kubernetes.",
    )
    prefect_api_url: str | None = Field(
        None, description="Prefect API of this environment; default: PREFECT_API_URL or local."
    )
    data: dict[str, Any] | None = Field(None, description=_OVERLAY)
    training: dict[str, Any] | None = Field(None, description=_OVERLAY)
    evaluation: dict[str, Any] | None = Field(None, description=_OVERLAY)
    approval: dict[str, Any] | None = Field(None, description=_OVERLAY)
    deployment: dict[str, Any] | None = Field(None, description=_OVERLAY)
    monitoring: dict[str, Any] | None = Field(None, description=_OVERLAY)
    schedules: dict[str, Any] | None = Field(None, description=_OVERLAY)
