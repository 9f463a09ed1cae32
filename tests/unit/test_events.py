"""Lifecycle events: webhooks against a real HTTP receiver on 127.0.0.1, and Python hooks.

Nothing about HTTP is mocked: a ``ThreadingHTTPServer`` receives the POSTs and answers as a
test tells it to (200, 500 a few times, always 500, 404, or not at all). Timeouts and
backoffs are tiny so the failure paths stay fast.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from lakestacks.errors import UserError
from lakestacks.events import (
    DeliveryFailure,
    Dispatcher,
    Event,
    EventType,
    HookFailure,
    LoadedHook,
    WebhookSender,
    load_hooks,
    signature,
)
from lakestacks.spec import Webhook, load_stack
from tests.webhook_receiver import Receiver, closed_port_url, no_proxy, receiver

SECRET = "s3cret-for-tests"  # noqa: S105 -- a test key, signs test bodies only

__all__ = ["closed_port_url", "no_proxy", "receiver"]  # imported fixtures, used by name


def _hook(url: str, **fields: Any) -> Webhook:
    return Webhook.model_validate(
        {"url": url, "timeout_seconds": 0.2, "backoff_seconds": 0.01, **fields}
    )


def _event(kind: EventType = EventType.PROMOTED, **fields: Any) -> Event:
    return Event(type=kind, stack="churn", env="dev", **fields)


def _webhook_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("lakestacks-webhook")]


# --- the event ----------------------------------------------------------------------------


def test_event_json_is_stable_and_json_safe() -> None:
    at = datetime(2026, 11, 30, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    event = _event(
        EventType.GATES_DECIDED,
        stage="evaluation",
        model="main.churn.churn_model",
        version=3,
        run_id="r1",
        message="gates passed:\n  roc_auc 0.81 >= 0.75",
        details={
            "roc_auc": 0.81,
            "f1": math.nan,
            "passed": True,
            "by": None,
            "table": Path("/lake/t"),  # type: ignore[dict-item]
            "rows": Fraction(10, 1),  # type: ignore[dict-item]
        },
        at=at,
    )

    doc = json.loads(event.to_json())

    assert list(doc) == [
        "schema", "id", "type", "at", "stack", "env", "stage", "model", "version", "run_id",
        "message", "details",
    ]  # fmt: skip
    assert doc["schema"] == 1
    assert doc["type"] == "gates_decided"
    assert doc["at"] == "2026-11-30T11:00:00Z"
    assert doc["message"] == "gates passed: roc_auc 0.81 >= 0.75"
    assert list(doc["details"]) == ["by", "f1", "passed", "roc_auc", "rows", "table"]
    assert doc["details"]["f1"] == "nan"
    assert (doc["details"]["rows"], doc["details"]["table"]) == (10.0, "/lake/t")
    assert event.to_json() == event.to_json()
    assert len(event.id) == 32
    assert _event().id != _event().id


def test_event_needs_an_aware_time_and_a_known_type() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _event(at=datetime(2026, 1, 1))  # naive on purpose
    with pytest.raises(ValueError, match="promote"):
        Dispatcher(stack="s", env="dev").event("promote")
    assert _event().at.tzinfo is UTC


# --- webhooks -----------------------------------------------------------------------------


def test_each_event_arrives_once_with_a_valid_signature(receiver: Receiver) -> None:
    events = Dispatcher(stack="churn", env="dev", webhooks=[_hook(receiver.url, secret=SECRET)])
    sent = [
        events.event(EventType.STAGE_STARTED, stage="training"),
        events.event(EventType.VERSION_REGISTERED, model="main.churn.m", version=3),
        events.event(EventType.PROMOTED, model="main.churn.m", version=3, message="v3"),
    ]
    for event in sent:
        events.emit(event)

    assert events.close(wait_seconds=5) == []

    got = receiver.requests
    assert len(got) == len(sent)
    for event, request in zip(sent, got, strict=True):  # one thread per webhook: in order
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(request.headers["x-stacks-signature"], f"sha256={expected}")
        assert request.body == event.to_json()
        assert request.headers["x-event-id"] == event.id == json.loads(request.body)["id"]
        assert request.headers["x-stacks-event"] == event.type.value
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("lakestacks/")
        assert request.headers["path"] == "/hook"
    assert signature(SECRET, got[0].body) == got[0].headers["x-stacks-signature"]


def test_unsigned_without_a_secret_and_extra_headers_sent(receiver: Receiver) -> None:
    hook = _hook(receiver.url, headers={"Authorization": "Bearer tok"}, secret="")
    sender = WebhookSender(hook)
    sender.send(_event())
    assert sender.close(5) == []

    (request,) = receiver.requests
    assert "x-stacks-signature" not in request.headers
    assert request.headers["authorization"] == "Bearer tok"
    assert sender.delivered == 1


def test_filter_sends_only_the_selected_events(receiver: Receiver) -> None:
    events = Dispatcher(
        stack="churn", env="dev", webhooks=[_hook(receiver.url, events=["promoted", "rejected"])]
    )
    for kind in (EventType.STAGE_STARTED, EventType.PROMOTED, EventType.STAGE_FINISHED):
        events.emit(events.event(kind))

    assert events.close(5) == []
    assert [r.headers["x-stacks-event"] for r in receiver.requests] == ["promoted"]


def test_500_then_200_is_delivered_once_after_retries_with_one_event_id(
    receiver: Receiver,
) -> None:
    receiver.fail_first = 2
    events = Dispatcher(stack="churn", env="dev", webhooks=[_hook(receiver.url, retries=3)])
    event = _event()
    events.emit(event)

    assert events.close(5) == []
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert {r.headers["x-event-id"] for r in receiver.requests} == {event.id}
    assert {r.body for r in receiver.requests} == {event.to_json()}
    assert len(receiver.delivered) == 1


def test_429_is_retried_and_other_4xx_is_not(receiver: Receiver) -> None:
    receiver.fail_first, receiver.fail_status = 1, 429
    sender = WebhookSender(_hook(receiver.url, retries=2))
    sender.send(_event())
    assert sender.close(5) == []
    assert [r.status for r in receiver.requests] == [429, 200]

    receiver.requests.clear()
    receiver.always_fail, receiver.fail_status = True, 404
    sender = WebhookSender(_hook(receiver.url, retries=3))
    sender.send(_event())
    (failure,) = sender.close(5)
    assert failure.attempts == 1
    assert "HTTP 404" in failure.error and "not retried" in failure.error
    assert len(receiver.requests) == 1


def _timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    value = call()
    return value, time.monotonic() - start


def test_always_500_is_recorded_once_with_its_attempts(receiver: Receiver) -> None:
    receiver.always_fail = True
    events = Dispatcher(stack="churn", env="dev", webhooks=[_hook(receiver.url, retries=2)])
    event = _event()

    _, emitted_in = _timed(lambda: events.emit(event))
    failures, closed_in = _timed(lambda: events.close(wait_seconds=5))

    assert emitted_in < 0.15
    assert closed_in < 2
    assert failures == [
        DeliveryFailure(receiver.url, event.id, EventType.PROMOTED, 3, failures[0].error)
    ]
    assert "HTTP 500" in failures[0].error
    assert len(receiver.requests) == 3
    assert {r.headers["x-event-id"] for r in receiver.requests} == {event.id}
    assert events.failures == failures


def test_a_receiver_that_is_down_is_recorded(closed_port_url: str) -> None:
    events = Dispatcher(stack="churn", env="dev", webhooks=[_hook(closed_port_url, retries=1)])
    event = _event(EventType.ROLLED_BACK)

    _, emitted_in = _timed(lambda: events.emit(event))
    failures, closed_in = _timed(lambda: events.close(wait_seconds=5))

    assert emitted_in < 0.15
    assert closed_in < 2
    (failure,) = failures
    assert (failure.event_id, failure.event_type, failure.attempts) == (
        event.id,
        EventType.ROLLED_BACK,
        2,
    )
    assert "connection failed" in failure.error
    assert failure.url == closed_port_url


def test_a_receiver_that_hangs_past_the_timeout_is_recorded(receiver: Receiver) -> None:
    receiver.hang = True
    events = Dispatcher(stack="churn", env="dev", webhooks=[_hook(receiver.url, retries=1)])
    event = _event(EventType.APPROVED)

    _, emitted_in = _timed(lambda: events.emit(event))
    failures, closed_in = _timed(lambda: events.close(wait_seconds=5))

    assert emitted_in < 0.15
    assert closed_in < 2  # two attempts of 0.2 s and one backoff
    (failure,) = failures
    assert failure.attempts == 2
    assert failure.error == "no answer within 0.2 s"
    assert len(receiver.requests) == 2


def test_close_waits_no_longer_than_told_and_gives_up_on_the_rest(receiver: Receiver) -> None:
    receiver.hang = True
    hook = _hook(receiver.url, timeout_seconds=2, retries=5)
    events = Dispatcher(stack="churn", env="dev", webhooks=[hook])
    sent = [events.event(EventType.STAGE_STARTED), events.event(EventType.STAGE_FINISHED)]
    _, emitted_in = _timed(lambda: [events.emit(event) for event in sent])
    receiver.wait_for(1)

    assert emitted_in < 0.5  # the receiver holds each request for 2 s

    failures, closed_in = _timed(lambda: events.close(wait_seconds=0.2))

    assert 0.15 < closed_in < 1
    assert [f.event_id for f in failures] == [e.id for e in sent]
    assert [f.attempts for f in failures] == [1, 0]  # the first in flight, the second queued
    assert all(f.error.startswith("not delivered before exit") for f in failures)
    assert events.close(wait_seconds=0.2) == failures  # again: same answer, no new records
    events.emit(events.event(EventType.PROMOTED))  # after close: recorded, not raised
    assert events.failures[-1].error == "emitted after the dispatcher closed"


def test_a_late_answer_after_close_changes_nothing(receiver: Receiver) -> None:
    receiver.fail_first = 1
    hook = _hook(receiver.url, retries=3, backoff_seconds=0.5)
    sender = WebhookSender(hook)
    sender.send(_event())
    receiver.wait_for(1)
    time.sleep(0.1)  # let the 500 reach the sender

    (failure,) = sender.close(wait_seconds=0.05)  # during the 0.5 s backoff

    assert failure.attempts == 1
    assert failure.error.endswith("last error: HTTP 500 Internal Server Error)")
    time.sleep(0.5)  # past the backoff: an abandoned delivery makes no further attempt
    assert len(receiver.requests) == 1
    assert sender.failures == [failure] and sender.delivered == 0


def test_failures_never_show_the_secret_or_the_query(closed_port_url: str) -> None:
    url = closed_port_url.replace("127.0.0.1", "bot:pw@127.0.0.1") + "?token=t0k3n-value-q#frag"
    hook = _hook(url, secret=SECRET, headers={"Authorization": "Bearer tok"}, retries=0)
    sender = WebhookSender(hook)
    sender.send(_event())

    (failure,) = sender.close(5)

    shown = json.dumps(failure.to_dict()) + failure.describe() + repr(failure) + repr(hook)
    for hidden in (SECRET, "token", "t0k3n-value-q", "pw", "Bearer", "frag"):
        assert hidden not in shown
    assert failure.url == closed_port_url


def test_nothing_configured_starts_no_thread() -> None:
    before = _webhook_threads()
    events = Dispatcher(stack="churn", env="dev")
    events.emit(events.event(EventType.STAGE_STARTED))
    events.before_stage("training", None)  # type: ignore[arg-type]

    assert not events.enabled
    assert _webhook_threads() == before
    assert events.close(wait_seconds=0) == []


def test_a_webhook_thread_starts_only_for_a_selected_event(receiver: Receiver) -> None:
    before = _webhook_threads()
    events = Dispatcher(
        stack="churn", env="dev", webhooks=[_hook(receiver.url, events=["approved"])]
    )
    events.emit(events.event(EventType.STAGE_STARTED))
    assert _webhook_threads() == before

    events.emit(events.event(EventType.APPROVED))
    assert len(_webhook_threads()) == len(before) + 1
    assert events.close(5) == []


def test_two_webhooks_one_down_one_up(receiver: Receiver, closed_port_url: str) -> None:
    events = Dispatcher(
        stack="churn",
        env="dev",
        webhooks=[_hook(closed_port_url, retries=0), _hook(receiver.url, secret=SECRET)],
    )
    with events:
        events.emit(events.event(EventType.AWAITING_APPROVAL, model="m", version=1))

    assert len(receiver.delivered) == 1
    assert [f.url for f in events.failures] == [closed_port_url]


# --- hooks --------------------------------------------------------------------------------


class Recorder:
    """A hook that defines all four methods and records each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object, object]] = []

    def before_stage(self, stage: str, stack: object) -> None:
        self.calls.append(("before_stage", stage, stack))

    def after_stage(self, stage: str, result: object) -> None:
        self.calls.append(("after_stage", stage, result))

    def on_error(self, stage: str, error: BaseException) -> None:
        self.calls.append(("on_error", stage, error))

    def on_event(self, event: Event) -> None:
        self.calls.append(("on_event", event.type, event))


class OnlyEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def on_event(self, event: Event) -> None:
        self.events.append(event)


class Raises:
    def before_stage(self, stage: str, stack: object) -> None:
        raise RuntimeError("pager\ndown")

    def on_event(self, event: Event) -> None:
        raise KeyError(event.type.value)


def test_hooks_get_every_call_with_its_arguments() -> None:
    recorder, partial = Recorder(), OnlyEvents()
    events = Dispatcher(stack="churn", env="dev", hooks=[recorder, partial])
    stack, result, error = object(), {"rows": 10}, ValueError("bad")
    event = events.event(EventType.STAGE_FAILED, stage="training")

    events.before_stage("data_prep", stack)  # type: ignore[arg-type]
    events.after_stage("data_prep", result)
    events.on_error("training", error)
    events.emit(event)

    assert recorder.calls == [
        ("before_stage", "data_prep", stack),
        ("after_stage", "data_prep", result),
        ("on_error", "training", error),
        ("on_event", EventType.STAGE_FAILED, event),
    ]
    assert partial.events == [event]
    assert events.close(0) == []


def test_a_hook_that_raises_is_recorded_and_the_others_still_run() -> None:
    recorder = Recorder()
    events = Dispatcher(stack="churn", env="dev", hooks=[Raises(), recorder])
    event = events.event(EventType.REJECTED)

    events.before_stage("training", object())  # type: ignore[arg-type]
    events.after_stage("training", None)  # Raises has no after_stage: nothing to record
    events.emit(event)

    assert [c[0] for c in recorder.calls] == ["before_stage", "after_stage", "on_event"]
    name = f"{__name__}:Raises"
    assert events.failures == [
        HookFailure(name, "before_stage", "RuntimeError: pager down", stage="training"),
        HookFailure(name, "on_event", "KeyError: 'rejected'", None, event.id, EventType.REJECTED),
    ]
    assert events.close(0) == events.failures


def test_a_hook_with_no_hook_method_is_a_user_error() -> None:
    class Typo:
        def before_stages(self, stage: str, stack: object) -> None: ...

    with pytest.raises(UserError, match=r"defines none of .*did you mean before_stage"):
        LoadedHook.of(Typo())


def test_hooks_load_from_the_stack_file(
    tmp_path: Path, user_module: Callable[[str], tuple[str, list[str]]]
) -> None:
    module, _ = user_module(
        """
        CALLS = []

        class Audit:
            def on_event(self, event):
                CALLS.append(event.type)

        def not_a_class():
            pass

        class NeedsArgs:
            def __init__(self, x):
                pass

            def on_event(self, event):
                pass
        """
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        f"""\
version: 1
name: churn
catalog: main.churn
data:
  sources:
    customers:
      generator: lakestacks.data.generators:churn_customers
hooks: [{module}:Audit]
""",
        encoding="utf-8",
    )
    resolved = load_stack(stack)
    events = Dispatcher.from_stack(resolved)
    events.emit(events.event(EventType.PROMOTED))

    import importlib

    assert importlib.import_module(module).CALLS == [EventType.PROMOTED]
    assert events.enabled and events.stack == "churn" and events.env == "dev"
    with pytest.raises(UserError, match="not a class"):
        load_hooks([f"{module}:not_a_class"], resolved.search_path)
    with pytest.raises(UserError, match="with no arguments: TypeError"):
        load_hooks([f"{module}:NeedsArgs"], resolved.search_path)


def test_webhooks_come_from_the_stack_with_the_secret_interpolated(
    tmp_path: Path, receiver: Receiver
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        f"""\
version: 1
name: churn
catalog: main.churn
data:
  sources:
    customers:
      generator: lakestacks.data.generators:churn_customers
notifications:
  webhooks:
    - url: {receiver.url}
      secret: ${{HOOK_SECRET}}
      events: [promoted]
      timeout_seconds: 0.5
""",
        encoding="utf-8",
    )
    events = Dispatcher.from_stack(load_stack(stack, environ={"HOOK_SECRET": SECRET}))
    events.emit(events.event(EventType.PROMOTED))
    assert events.close(5) == []

    (request,) = receiver.requests
    assert request.headers["x-stacks-signature"] == signature(SECRET, request.body)
