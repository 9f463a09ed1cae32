"""The root model of a stack file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from lakestacks.catalog import NAME_PART
from lakestacks.spec._base import Name, Ref, SpecModel
from lakestacks.spec.approval import ApprovalSection
from lakestacks.spec.data import DataSection
from lakestacks.spec.deployment import DeploymentSection
from lakestacks.spec.environment import Environment
from lakestacks.spec.evaluation import EvaluationSection
from lakestacks.spec.monitoring import MonitoringSection
from lakestacks.spec.notifications import NotificationsSection
from lakestacks.spec.schedules import Schedules
from lakestacks.spec.training import TrainingSection

__all__ = ["Stack"]


class Stack(SpecModel):
    """A model's whole lifecycle: data, training, evaluation, approval, deployment, monitoring."""

    version: Literal[1] = Field(description="The stack file format version; write 1.")
    name: Name = Field(description="The project name, e.g. 'churn'.")
    catalog: str = Field(
        pattern=rf"^{NAME_PART}\.{NAME_PART}$",
        description="'catalog.schema' prefix of this stack's tables and models, e.g. 'main.churn'.",
    )
    description: str = Field("", max_length=2000, description="What this stack is for.")
    environments: dict[Name, Environment] = Field(
        default_factory=dict, description="Named environments; 'dev' is the default."
    )
    data: DataSection = Field(description="Sources, prep steps, expectations and split.")
    training: TrainingSection | None = Field(None, description="What and how to train.")
    evaluation: EvaluationSection | None = Field(None, description="Metrics and gates.")
    approval: ApprovalSection = Field(
        default_factory=ApprovalSection,
        description="Automatic or manual approval.",
    )
    deployment: DeploymentSection | None = Field(None, description="Registration and serving.")
    monitoring: MonitoringSection | None = Field(None, description="Drift monitoring.")
    schedules: Schedules = Field(default_factory=dict, description="Cron schedules per flow.")
    notifications: NotificationsSection = Field(
        default_factory=NotificationsSection,
        description="Webhooks that receive lifecycle events (stages, registry steps).",
    )
    hooks: list[Ref] = Field(
        default_factory=list,
        description="Python hooks as 'module:Class', instantiated with no arguments; a class "
        "defines any of before_stage, after_stage, on_error, on_event.",
    )
