"""What a consumer of events failed to do, as records the run keeps instead of raising."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from lakestacks.spec.notifications import EventType

__all__ = ["ConsumerFailure", "DeliveryFailure", "HookFailure"]


@dataclass(frozen=True)
class DeliveryFailure:
    """An event a webhook did not receive, after every attempt it was allowed.

    Attributes:
        url: The webhook without user info, query or fragment (they may hold tokens).
        event_id: The event's id, as sent in ``X-Event-Id``.
        event_type: The event's type.
        attempts: HTTP attempts made (0 when exit came before the first).
        error: Why the last attempt failed, in one line.

    Example:
        >>> failure = DeliveryFailure("https://h.x/y", "ab1", EventType.PROMOTED, 4, "HTTP 500")
        >>> failure.describe()
        'webhook https://h.x/y: promoted event ab1 not delivered after 4 attempts: HTTP 500'
    """

    kind: ClassVar[str] = "webhook"

    url: str
    event_id: str
    event_type: EventType
    attempts: int
    error: str

    def describe(self) -> str:
        """One line for logs and the run summary."""
        noun = "attempt" if self.attempts == 1 else "attempts"
        return (
            f"webhook {self.url}: {self.event_type.value} event {self.event_id} not delivered "
            f"after {self.attempts} {noun}: {self.error}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with ``kind``, for an audit row."""
        return {"kind": self.kind, **dataclasses.asdict(self), "event_type": self.event_type.value}


@dataclass(frozen=True)
class HookFailure:
    """A Python hook that raised; the run went on as if it had returned.

    Attributes:
        hook: The hook's class as ``module:Class``.
        method: The hook method that raised (``before_stage``, ``on_event``, ...).
        error: The exception as ``Type: message``, in one line.
        stage: The stage it was called for, if any.
        event_id: The event it was given, for ``on_event``.
        event_type: That event's type.

    Example:
        >>> HookFailure("my.hooks:Audit", "on_error", "KeyError: 'x'", stage="training").describe()
        "hook my.hooks:Audit.on_error (stage training) raised KeyError: 'x'"
    """

    kind: ClassVar[str] = "hook"

    hook: str
    method: str
    error: str
    stage: str | None = None
    event_id: str | None = None
    event_type: EventType | None = None

    def describe(self) -> str:
        """One line for logs and the run summary."""
        about = f" (stage {self.stage})" if self.stage else ""
        if self.event_type is not None:
            about = f" ({self.event_type.value} event {self.event_id})"
        return f"hook {self.hook}.{self.method}{about} raised {self.error}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields, with ``kind``, for an audit row."""
        event_type = self.event_type.value if self.event_type is not None else None
        return {"kind": self.kind, **dataclasses.asdict(self), "event_type": event_type}


ConsumerFailure = DeliveryFailure | HookFailure
"""Anything :meth:`lakestacks.events.Dispatcher.close` reports."""
