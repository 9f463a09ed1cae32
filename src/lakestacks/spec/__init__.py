"""The stack file: pydantic models of each section, the loader, the plan and the JSON Schema."""

from __future__ import annotations

from typing import Any

from lakestacks.spec.loader import DEFAULT_ENV, ResolvedStack, Runtime, load_stack, locate
from lakestacks.spec.notifications import EventType, NotificationsSection, Webhook
from lakestacks.spec.plan import PlanStep
from lakestacks.spec.stack import Stack

__all__ = [
    "DEFAULT_ENV",
    "EventType",
    "NotificationsSection",
    "PlanStep",
    "ResolvedStack",
    "Runtime",
    "Stack",
    "Webhook",
    "json_schema",
    "load_stack",
    "locate",
]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a stack file, for editor completion (e.g. YAML language servers).

    Example:
        >>> json_schema()["title"]
        'Stack'
    """
    schema = Stack.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
