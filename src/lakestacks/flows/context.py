"""The run context: what every stage of one command shares, built once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from lakestacks.catalog import Catalog
from lakestacks.events import DEFAULT_CLOSE_WAIT_SECONDS, Dispatcher, EventType
from lakestacks.flows._records import audit
from lakestacks.flows._runner import DirectRunner, Runner
from lakestacks.registry import Registry
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name

__all__ = ["RunContext"]

# The `_audit` rows that are lifecycle events too (the others, e.g. batch_scored, are not).
_AUDITED_EVENTS = {
    "registered": EventType.VERSION_REGISTERED,
    "awaiting_approval": EventType.AWAITING_APPROVAL,
    "approved": EventType.APPROVED,
    "rejected": EventType.REJECTED,
    "promoted": EventType.PROMOTED,
    "promotion_refused": EventType.PROMOTION_REFUSED,
    "rolled_back": EventType.ROLLED_BACK,
    "drift_breach": EventType.DRIFT_BREACH,
}


@dataclass
class RunContext:
    """What one command's stages share: the stack, the registry, the runner, the events.

    Attributes:
        resolved: The stack for the selected environment.
        runner: Runs each step (a Prefect task, or a plain call).
        progress: Show Lightning's progress bar while training.
        resume: Reuse stages an earlier run completed with the same key.
        force: Retrain even when the champion was trained on the same data, stack and code.
        events: Where lifecycle events go (the stack's webhooks and hooks).
        since: Where monitoring starts instead of its watermark (``stacks monitor --since``).
    """

    resolved: ResolvedStack
    runner: Runner = field(default_factory=DirectRunner)
    progress: bool = False
    resume: bool = False
    force: bool = False
    events: Dispatcher | None = None
    since: datetime | None = None

    def __post_init__(self) -> None:
        if self.events is None:  # nothing configured: a dispatcher that does nothing
            spec = self.resolved.stack
            self.events = Dispatcher(stack=spec.name, env=self.resolved.runtime.env)

    @property
    def dispatcher(self) -> Dispatcher:
        """The events' dispatcher (always set after construction)."""
        assert self.events is not None  # noqa: S101 - __post_init__ sets it
        return self.events

    @property
    def catalog(self) -> Catalog:
        """The stack's names under this environment's lake."""
        return self.resolved.catalog

    @property
    def env(self) -> str:
        """The environment's name."""
        return self.resolved.runtime.env

    @cached_property
    def registry(self) -> Registry:
        """The environment's MLflow stores, bound on first use (data prep alone never
        loads MLflow)."""
        runtime = self.resolved.runtime
        return Registry(runtime.tracking_uri, runtime.registry_uri)

    @property
    def model(self) -> str:
        """The full registry name of the stack's model."""
        spec = self.resolved.stack
        return self.catalog.model_name(model_short_name(spec.name, spec.deployment))

    def close(self, wait_seconds: float = DEFAULT_CLOSE_WAIT_SECONDS) -> list[str]:
        """Wait (bounded) for the events still being delivered; record each consumer that
        failed in ``_audit`` (``notification_failed``) and return one line per failure.

        A failed delivery never changes the run's result: it is recorded and shown.
        """
        lines = []
        for failure in self.dispatcher.close(wait_seconds):
            lines.append(failure.describe())
            audit(
                self.catalog,
                self.env,
                self.model,
                None,
                "notification_failed",
                reason=lines[-1],
                details=failure.to_dict(),
            )
        return lines

    def audit(
        self,
        model: str,
        version: int | None,
        event: str,
        *,
        by: str | None = None,
        reason: str | None = None,
        champion_before: int | None = None,
        champion_after: int | None = None,
        details: Mapping[str, Any] | None = None,
        message: str = "",
    ) -> None:
        """Append ``event`` to ``_audit`` and, when it is a lifecycle event, emit it."""
        audit(
            self.catalog,
            self.env,
            model,
            version,
            event,
            by=by,
            reason=reason,
            champion_before=champion_before,
            champion_after=champion_after,
            details=details,
        )
        kind = _AUDITED_EVENTS.get(event)
        if kind is None:
            return
        facts: dict[str, Any] = {
            "by": by,
            "reason": reason,
            "champion_before": champion_before,
            "champion_after": champion_after,
            **(details or {}),
        }
        self.dispatcher.emit(
            self.dispatcher.event(
                kind,
                model=model,
                version=version,
                message=message or reason or "",
                details={k: v for k, v in facts.items() if v is not None},
            )
        )
