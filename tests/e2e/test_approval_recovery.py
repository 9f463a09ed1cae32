"""Issue 16, items 8 and 9: an approval survives a crash, and who may approve is what the
version recorded when it was registered.

Crashes are real: a Python hook of the stack calls ``os._exit(137)`` when the lifecycle
event named by ``CRASH_AT`` is emitted (hooks run in the command's own thread, right after
the event's ``_audit`` row is written), in a ``stacks`` subprocess. Re-running
`stacks approve` or `stacks run deployment` must then finish the promotion, once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lakestacks import registry
from lakestacks.cli.main import app
from lakestacks.flows._records import audit_events
from lakestacks.spec import load_stack
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "main.churn.churn_model"

CRASH_HOOK = '''\
import os


class CrashAt:
    """Kill the command, as a power cut would, right after the event CRASH_AT names."""

    def on_event(self, event):
        if os.environ.get("CRASH_AT") == str(event.type):
            os._exit(137)
'''


def stacks(project: Project, *args: str, path: Path | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "-s", str(path or project.path)])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def crashed(project: Project, at: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``stacks ARGS`` in a subprocess that dies at the event ``at``."""
    done = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", *args, "-s", str(project.path)],
        env={**os.environ, "CRASH_AT": at},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    configure(project)  # this process reads the registry the subprocess wrote
    return done


def configure(project: Project) -> None:
    resolved = load_stack(project.path)
    registry.configure(resolved.runtime.tracking_uri, resolved.runtime.registry_uri)


def crash_ready(project: Project, **approval: Any) -> None:
    (project.root / "crash_hook.py").write_text(CRASH_HOOK)
    project.set("hooks", ["crash_hook:CrashAt"])
    # Only a fixed gate: every version passes, so each one reaches approval.
    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.55}])
    project.set("deployment", {"model": "churn_model"})
    project.set("approval", approval)


def events(project: Project, version: int) -> list[str]:
    configure(project)
    resolved = load_stack(project.path)
    return [e["event"] for e in audit_events(resolved.catalog, MODEL, version)]


def models_json(project: Project) -> dict[int, dict[str, Any]]:
    code, out, err = stacks(project, "models", "--json")
    assert code == 0, err
    (model,) = json.loads(out)["models"]
    return {v["version"]: v for v in model["versions"]} | {0: {"aliases": model["aliases"]}}


def test_an_approval_cut_short_by_a_crash_is_completed_by_approving_again(
    project: Project,
) -> None:
    crash_ready(project, mode="auto")
    assert stacks(project, "run", "--runner", "direct")[0] == 0  # v1, the champion
    project.set("approval", {"mode": "manual", "approvers": ["alice"]})
    assert stacks(project, "run", "--runner", "direct")[0] == 4  # v2 awaits approval

    died = crashed(project, "approved", "approve", "churn_model", "2", "--by", "alice")
    assert died.returncode == 137, died.stderr
    versions = models_json(project)
    assert versions[2]["record"]["status"] == "approved"  # the approval is on record...
    assert versions[0]["aliases"]["champion"] == 1  # ...and nothing moved yet
    assert events(project, 2).count("approved") == 1

    code, out, err = stacks(project, "approve", "churn_model", "2", "--by", "alice")
    assert code == 0, err
    assert "completing the approval of v2 by alice recorded at" in out
    assert "v2 is the champion (was v1)" in out
    assert project.champion() == 2
    versions = models_json(project)
    assert versions[0]["aliases"] == {"champion": 2, "previous": 1}  # no @challenger left
    assert versions[2]["record"]["status"] == "champion"
    assert versions[2]["record"]["approval_by"] == "alice"
    assert versions[1]["record"]["status"] == "demoted"
    assert versions[1]["record"]["replaced_by"] == 2
    v2 = events(project, 2)
    assert v2.count("approved") == 1 and v2.count("promoted") == 1, v2
    assert events(project, 1).count("demoted") == 1
    # Done means done: a third approval is refused, not a second promotion.
    code, _, err = stacks(project, "approve", "churn_model", "2", "--by", "alice")
    assert code == 2 and "not awaiting approval (its status is champion)" in err


def test_a_crash_after_the_alias_moved_converges_with_run_deployment(project: Project) -> None:
    crash_ready(project, mode="manual", approvers=["alice"])
    assert stacks(project, "run", "--runner", "direct")[0] == 4  # v1 awaits approval

    # The crash comes after @champion moved and the promotion was audited, before the
    # version's record says champion.
    died = crashed(project, "promoted", "approve", "churn_model", "1", "--by", "alice")
    assert died.returncode == 137, died.stderr
    assert project.champion() == 1
    assert models_json(project)[1]["record"]["status"] == "approved"

    code, out, err = stacks(project, "run", "deployment", "--runner", "direct")
    assert code == 0, err + out
    assert "@champion = v1" in out
    versions = models_json(project)
    assert versions[0]["aliases"] == {"champion": 1}
    assert versions[1]["record"]["status"] == "champion"
    v1 = events(project, 1)
    assert v1.count("approved") == 1 and v1.count("promoted") == 1, v1


def test_an_auto_approval_cut_short_is_completed_by_run_deployment(project: Project) -> None:
    crash_ready(project, mode="auto")
    died = crashed(project, "approved", "run", "--runner", "direct")
    assert died.returncode == 137, died.stderr
    assert project.champion() is None
    assert models_json(project)[1]["record"]["status"] == "approved"

    code, out, err = stacks(project, "run", "deployment", "--runner", "direct")
    assert code == 0, err + out
    assert "@champion = v1" in out
    assert models_json(project)[1]["record"]["status"] == "champion"
    v1 = events(project, 1)
    assert v1.count("approved") == 1 and v1.count("promoted") == 1, v1


def test_who_may_approve_is_recorded_on_the_version_not_read_from_the_stack_file(
    project: Project,
) -> None:
    crash_ready(project, mode="manual", approvers=["alice"])
    assert stacks(project, "run", "--runner", "direct")[0] == 4  # v1 awaits approval

    # Another stack file over the same lake names mallory; so does the edited stack file.
    other = project.root / "other.yaml"
    other.write_text(project.path.read_text().replace("- alice", "- mallory"))
    for path in (other, None):
        code, _, err = stacks(project, "approve", "churn_model", "1", "--by", "mallory", path=path)
        assert code == 2 and "'mallory' may not approve" in err and "only alice may" in err, err
        project.set("approval", {"mode": "manual", "approvers": ["mallory"]})
    code, _, err = stacks(project, "reject", "churn_model", "1", "--by", "mallory")
    assert code == 2 and "'mallory' may not reject" in err and "only alice may" in err, err
    assert project.champion() is None
    record = models_json(project)[1]["record"]
    assert record["approval_mode"] == "manual" and record["approvers"] == ["alice"]

    # A version registered before policies were recorded: the stack's approvers decide.
    from mlflow import MlflowClient

    policy = ("lakestacks.approval.mode", "lakestacks.approval.approvers")
    tags = registry.get_version(MODEL, 1).tags
    for key in policy:
        MlflowClient().delete_model_version_tag(MODEL, "1", key)
    code, _, err = stacks(project, "approve", "churn_model", "1", "--by", "alice")
    assert code == 2 and "only mallory may" in err, err
    registry.set_version_tags(MODEL, 1, {key: tags[key] for key in policy})

    code, out, err = stacks(project, "approve", "churn_model", "1", "--by", "alice")
    assert code == 0 and "v1 is the champion" in out, err
    assert project.champion() == 1
    record = models_json(project)[1]["record"]
    assert record["approval_by"] == "alice" and record["status"] == "champion"
    refused = events(project, 1)
    assert refused.count("approval_refused") == 3 and refused.count("rejection_refused") == 1
