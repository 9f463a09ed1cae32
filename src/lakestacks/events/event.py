"""One lifecycle event: what happened to which stack, stage or model version, and when."""

from __future__ import annotations

import json
import math
import numbers
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from lakestacks.spec.notifications import EventType

__all__ = ["SCHEMA_VERSION", "Detail", "Event", "EventType"]

SCHEMA_VERSION = 1
"""The ``schema`` of an event's JSON; raised when a field changes meaning or goes away."""

Detail = str | int | float | bool | None
"""A value in :attr:`Event.details`: what JSON holds without a custom encoder."""


def _new_id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


def _one_line(text: str) -> str:
    # Receivers show the message in chat lines and log rows; a traceback would flood them.
    return " ".join(text.split())


def _json_scalar(value: object) -> Detail:
    """A detail as a plain JSON scalar: numpy-like numbers become int or float, NaN and
    infinities text (``json.dumps`` writes bare ``NaN``, which JSON parsers reject), and
    anything else its ``str``, so serialising an event can never fail."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    return str(value)


@dataclass(frozen=True, kw_only=True)
class Event:
    """A typed lifecycle event, delivered to webhooks as JSON and to hooks as is.

    Attributes:
        type: What happened.
        stack: The stack's name.
        env: The environment the stack runs in.
        stage: The stage it happened in, if any (e.g. ``training``).
        model: The registered model's name, for registry events.
        version: The model version, for registry events.
        run_id: The tracking run, if any.
        message: One line for people; newlines are folded into spaces.
        details: Further facts, JSON scalars only (e.g. ``{"roc_auc": 0.81}``).
        id: Unique per event (uuid4 hex); the ``X-Event-Id`` of every delivery attempt.
        at: When it happened, in UTC.

    Example:
        >>> event = Event(type=EventType.PROMOTED, stack="churn", env="dev",
        ...               model="main.churn.churn_model", version=3, message="promoted v3")
        >>> event.to_dict()["type"], event.to_dict()["schema"]
        ('promoted', 1)
    """

    type: EventType
    stack: str
    env: str
    stage: str | None = None
    model: str | None = None
    version: int | None = None
    run_id: str | None = None
    message: str = ""
    details: Mapping[str, Detail] = field(default_factory=dict, hash=False)
    id: str = field(default_factory=_new_id)
    at: datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.at.tzinfo is None:
            raise ValueError("Event.at must be timezone-aware; use datetime.now(UTC)")
        # Frozen dataclass: normalising fields means writing past the frozen __setattr__.
        object.__setattr__(self, "type", EventType(self.type))
        object.__setattr__(self, "at", self.at.astimezone(UTC))
        object.__setattr__(self, "message", _one_line(self.message))
        if self.version is not None:
            object.__setattr__(self, "version", int(self.version))
        details = {str(k): _json_scalar(v) for k, v in self.details.items()}
        object.__setattr__(self, "details", MappingProxyType(details))

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready data, keys in a fixed order, ``schema`` first.

        Example:
            >>> list(Event(type=EventType.APPROVED, stack="s", env="dev").to_dict())[:3]
            ['schema', 'id', 'type']
        """
        return {
            "schema": SCHEMA_VERSION,
            "id": self.id,
            "type": self.type.value,
            "at": self.at.isoformat().replace("+00:00", "Z"),
            "stack": self.stack,
            "env": self.env,
            "stage": self.stage,
            "model": self.model,
            "version": self.version,
            "run_id": self.run_id,
            "message": self.message,
            "details": {k: self.details[k] for k in sorted(self.details)},
        }

    def to_json(self) -> bytes:
        """The UTF-8 JSON body a webhook receives (and its signature covers).

        Example:
            >>> Event(type=EventType.REJECTED, stack="s", env="dev").to_json()[:11]
            b'{"schema":1'
        """
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
