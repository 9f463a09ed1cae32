"""Lifecycle events from real runs to a real webhook receiver on 127.0.0.1, and Python hooks:
promoted, rejected and awaiting-approval events arrive once each, signed; a receiver that is
down, answers 500 or hangs leaves the run's result and exit code as they were, and the
failure is recorded in ``_audit`` and shown."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestacks import api
from lakestacks.cli.main import app
from lakestacks.flows._records import audit_events
from lakestacks.spec import load_stack
from tests.e2e.conftest import Project
from tests.webhook_receiver import Receiver, closed_port_url, no_proxy, receiver

__all__ = ["closed_port_url", "no_proxy", "receiver"]  # imported fixtures, used by name

pytestmark = pytest.mark.integration

SECRET = "webhook-test-secret"  # noqa: S105 - signs test bodies only
REGISTRY_EVENTS = {"promoted", "rejected", "awaiting_approval"}

HOOKS = """\
CALLS = []


class Recorder:
    def before_stage(self, stage, stack):
        CALLS.append(("before", stage))

    def after_stage(self, stage, result):
        CALLS.append(("after", stage))

    def on_event(self, event):
        CALLS.append(("event", event.type.value))


class Broken:
    def on_event(self, event):
        raise RuntimeError("hook down")
"""


def notify(project: Project, url: str, **webhook: object) -> None:
    project.set(
        "notifications",
        {
            "webhooks": [
                {
                    "url": url,
                    "secret": "${WEBHOOK_SECRET}",
                    "events": sorted(REGISTRY_EVENTS),
                    "timeout_seconds": 0.5,
                    "retries": 1,
                    "backoff_seconds": 0.01,
                    **webhook,
                }
            ]
        },
    )


def bodies(receiver: Receiver) -> list[dict[str, object]]:
    out = []
    for got in receiver.delivered:
        expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(got.headers["x-stacks-signature"], expected)
        event = json.loads(got.body)
        assert got.headers["x-event-id"] == event["id"]
        out.append(event)
    return out


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)


def test_promoted_rejected_and_awaiting_approval_arrive_once_each_signed(
    project: Project, receiver: Receiver
) -> None:
    notify(project, receiver.url)
    assert project.run().status == "promoted"

    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.999}])
    assert project.run().exit_code == 3

    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.5}])
    project.set("approval", {"mode": "manual"})
    assert project.run().exit_code == 4

    events = bodies(receiver)
    assert [(e["type"], e["version"]) for e in events] == [
        ("promoted", 1),
        ("rejected", 2),
        ("awaiting_approval", 3),
    ]
    assert len(receiver.requests) == 3  # each once: no duplicate, nothing filtered let through
    assert events[0]["model"] == "main.churn.churn_model" and events[0]["stack"] == "churn"
    assert "rejected by its gates" in str(events[1]["message"])


@pytest.mark.parametrize("answer", ["down", "500", "hang"])
def test_a_failing_receiver_changes_nothing_but_is_recorded(
    project: Project, receiver: Receiver, closed_port_url: str, answer: str
) -> None:
    receiver.always_fail = answer == "500"
    receiver.hang = answer == "hang"
    notify(project, closed_port_url if answer == "down" else receiver.url)
    result = CliRunner().invoke(app, ["run", "-s", str(project.path), "--runner", "direct"])
    assert result.exit_code == 0, result.stderr
    assert "notification failed:" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert project.champion() == 1
    resolved = load_stack(project.path)
    failed = [
        e
        for e in audit_events(resolved.catalog, "main.churn.churn_model")
        if e["event"] == "notification_failed"
    ]
    assert len(failed) == 1
    assert json.loads(failed[0]["details"])["event_type"] == "promoted"


def test_hooks_see_stages_and_events_and_a_broken_one_is_recorded(
    project: Project, receiver: Receiver
) -> None:
    (project.root / "run_hooks.py").write_text(HOOKS)
    project.set("hooks", ["run_hooks:Recorder", "run_hooks:Broken"])
    outcome = project.run()
    assert outcome.status == "promoted"
    import run_hooks  # type: ignore[import-not-found]  # the project's module, as loaded

    calls = run_hooks.CALLS
    assert ("before", "data_prep") in calls and ("after", "batch_inference") in calls
    assert calls.index(("before", "training")) < calls.index(("event", "version_registered"))
    assert [c for c in calls if c == ("event", "promoted")] == [("event", "promoted")]
    assert any("hook down" in line for line in outcome.notifications)


def test_approve_notifies_too(project: Project, receiver: Receiver, tmp_path: Path) -> None:
    project.set("approval", {"mode": "manual"})
    notify(project, receiver.url, events=["approved", "promoted"])
    assert project.run().exit_code == 4
    done = api.approve("churn_model", version=1, by="alice", path=project.path)
    assert done.decision.status == "promoted" and done.notifications == []
    assert [e["type"] for e in bodies(receiver)] == ["approved", "promoted"]
