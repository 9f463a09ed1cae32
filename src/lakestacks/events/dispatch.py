"""The dispatcher: one per command, it hands each event and stage call to every consumer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from types import TracebackType

from lakestacks.events.event import Detail, Event, EventType
from lakestacks.events.failures import ConsumerFailure, DeliveryFailure, HookFailure
from lakestacks.events.hooks import LoadedHook, load_hooks
from lakestacks.events.webhooks import WebhookSender
from lakestacks.spec.loader import ResolvedStack
from lakestacks.spec.notifications import Webhook

__all__ = ["DEFAULT_CLOSE_WAIT_SECONDS", "Dispatcher"]

DEFAULT_CLOSE_WAIT_SECONDS = 10.0
"""How long :meth:`Dispatcher.close` waits for pending webhook deliveries by default."""

_log = logging.getLogger("lakestacks.events")


class Dispatcher:
    """Sends lifecycle events to a stack's webhooks and hooks; never raises for them.

    Webhooks are delivered in the background (:class:`WebhookSender`); hooks are called in
    the caller's thread. Every failure of a consumer is recorded in :attr:`failures` (and
    logged) instead of raised, so a consumer never changes a run's result. A dispatcher
    with nothing configured starts no thread and does next to nothing.

    Args:
        stack: The stack's name, filled into events made by :meth:`event`.
        env: The environment, likewise.
        webhooks: The webhooks to deliver to.
        hooks: Hook objects (any subset of the :class:`Hook` methods), or loaded hooks.

    Example:
        >>> with Dispatcher.from_stack(resolved) as events:  # doctest: +SKIP
        ...     events.before_stage("training", resolved)
        ...     events.emit(events.event(EventType.VERSION_REGISTERED, model="m", version=3))
        >>> events.failures  # doctest: +SKIP
        []
    """

    def __init__(
        self,
        *,
        stack: str,
        env: str,
        webhooks: Sequence[Webhook] = (),
        hooks: Sequence[object] = (),
    ) -> None:
        self.stack = stack
        self.env = env
        self._lock = threading.Lock()
        self._failures: list[ConsumerFailure] = []
        self._senders = [WebhookSender(w, on_failure=self._record) for w in webhooks]
        self._hooks = [h if isinstance(h, LoadedHook) else LoadedHook.of(h) for h in hooks]

    @classmethod
    def from_stack(cls, resolved: ResolvedStack) -> Dispatcher:
        """The dispatcher of a resolved stack: its ``notifications.webhooks`` and ``hooks``.

        Imports and instantiates the hooks (user code); the webhooks' ``${VAR}`` values were
        interpolated by the loader.

        Raises:
            UserError: a hook cannot be loaded or instantiated.

        Example:
            >>> events = Dispatcher.from_stack(load_stack("stack.yaml"))  # doctest: +SKIP
            >>> events.enabled  # doctest: +SKIP
            False
        """
        spec = resolved.stack
        return cls(
            stack=spec.name,
            env=resolved.runtime.env,
            webhooks=spec.notifications.webhooks,
            hooks=load_hooks(spec.hooks, resolved.search_path) if spec.hooks else (),
        )

    def add_hook(self, hook: object) -> None:
        """Call ``hook`` too, after the stack's own hooks (e.g. the CLI's progress lines).

        Raises:
            UserError: it defines none of the hook methods.

        Example:
            >>> class Started:
            ...     def on_event(self, event: Event) -> None:
            ...         print(event.type, event.stage)
            >>> events = Dispatcher(stack="churn", env="dev")
            >>> events.add_hook(Started())
            >>> events.emit(events.event(EventType.STAGE_STARTED, stage="training"))
            stage_started training
        """
        self._hooks.append(hook if isinstance(hook, LoadedHook) else LoadedHook.of(hook))

    @property
    def enabled(self) -> bool:
        """Whether anything consumes events; when not, callers may skip building them."""
        return bool(self._senders or self._hooks)

    @property
    def failures(self) -> list[ConsumerFailure]:
        """What consumers failed to do so far, in the order it was recorded."""
        with self._lock:
            return list(self._failures)

    def event(
        self,
        type: EventType | str,
        *,
        stage: str | None = None,
        model: str | None = None,
        version: int | None = None,
        run_id: str | None = None,
        message: str = "",
        details: Mapping[str, Detail] | None = None,
    ) -> Event:
        """A new event of this dispatcher's stack and environment (it is not emitted).

        Example:
            >>> Dispatcher(stack="churn", env="dev").event("promoted", version=3).stack
            'churn'
        """
        return Event(
            type=EventType(type),
            stack=self.stack,
            env=self.env,
            stage=stage,
            model=model,
            version=version,
            run_id=run_id,
            message=message,
            details=details or {},
        )

    def emit(self, event: Event) -> None:
        """Queue the event for the webhooks that select it, then call each hook's ``on_event``.

        Returns at once for webhooks; hooks run here, in order.
        """
        for sender in self._senders:
            try:
                sender.send(event)
            except Exception as err:  # a bug of ours must not fail the run either
                error = f"internal error: {type(err).__name__}: {err}"
                self._record(DeliveryFailure(sender.url, event.id, event.type, 0, error))
        for hook in self._hooks:
            self._keep(hook.call("on_event", event, event=event))

    def before_stage(self, stage: str, stack: ResolvedStack) -> None:
        """Call each hook's ``before_stage``."""
        for hook in self._hooks:
            self._keep(hook.call("before_stage", stage, stack, stage=stage))

    def after_stage(self, stage: str, result: object) -> None:
        """Call each hook's ``after_stage`` with what the stage returned."""
        for hook in self._hooks:
            self._keep(hook.call("after_stage", stage, result, stage=stage))

    def on_error(self, stage: str, error: BaseException) -> None:
        """Call each hook's ``on_error`` with what the stage raised (the caller re-raises)."""
        for hook in self._hooks:
            self._keep(hook.call("on_error", stage, error, stage=stage))

    def close(self, wait_seconds: float = DEFAULT_CLOSE_WAIT_SECONDS) -> list[ConsumerFailure]:
        """Wait at most ``wait_seconds`` in all for pending webhook deliveries, then give up.

        Deliveries still pending then are recorded as failed ("not delivered before exit").
        Safe to call more than once; events emitted after it are recorded as failures for
        the webhooks that select them.

        Returns:
            Every failure so far, hooks' and webhooks', in the order recorded.
        """
        deadline = time.monotonic() + max(wait_seconds, 0.0)
        for sender in self._senders:
            sender.close(deadline - time.monotonic())
        return self.failures

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _keep(self, failure: HookFailure | None) -> None:
        if failure is not None:
            self._record(failure)

    def _record(self, failure: DeliveryFailure | HookFailure) -> None:
        # Webhook senders call this from their threads; hooks from the caller's.
        with self._lock:
            self._failures.append(failure)
        _log.warning(failure.describe())
