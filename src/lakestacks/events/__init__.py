"""Lifecycle events and their consumers: webhooks and Python hooks.

Stages and the registry report what happened as typed :class:`Event` objects; a
:class:`Dispatcher` built from the stack's ``notifications:`` and ``hooks:`` hands each one
to its consumers. A consumer that fails (a webhook down, slow or answering 500, a hook that
raises) is recorded as a :class:`DeliveryFailure` or :class:`HookFailure` and never changes
a run's result.

Example:
    >>> from lakestacks.events import Dispatcher, EventType
    >>> events = Dispatcher(stack="churn", env="dev")  # nothing configured: no thread
    >>> events.emit(events.event(EventType.STAGE_STARTED, stage="training"))
    >>> events.close(wait_seconds=1)
    []
"""

from lakestacks.events.dispatch import DEFAULT_CLOSE_WAIT_SECONDS, Dispatcher
from lakestacks.events.event import SCHEMA_VERSION, Detail, Event, EventType
from lakestacks.events.failures import ConsumerFailure, DeliveryFailure, HookFailure
from lakestacks.events.hooks import HOOK_METHODS, Hook, LoadedHook, load_hooks
from lakestacks.events.webhooks import USER_AGENT, WebhookSender, signature

__all__ = [
    "DEFAULT_CLOSE_WAIT_SECONDS",
    "HOOK_METHODS",
    "SCHEMA_VERSION",
    "USER_AGENT",
    "ConsumerFailure",
    "DeliveryFailure",
    "Detail",
    "Dispatcher",
    "Event",
    "EventType",
    "Hook",
    "HookFailure",
    "LoadedHook",
    "WebhookSender",
    "load_hooks",
    "signature",
]
