"""The lifecycle commands as a user types them: summaries, exit codes 0/2/3/4, no tracebacks."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def stacks(project: Project, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "-s", str(project.path)])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


def test_run_summary_and_registry_commands(project: Project) -> None:
    code, out, err = stacks(project, "run", "--runner", "direct")
    assert code == 0, err
    for part in ("tables", "test metrics", "challenger v1", "gates (enforce)", "roc_auc >= 0.55",
                 "approved (auto) and promoted", "main.churn.churn_model@champion = v1",
                 "batch: scored main.churn.customers v0", "time:"):  # fmt: skip
        assert part in out, part
    code, out, _ = stacks(project, "models", "--json")
    assert code == 0
    models = json.loads(out)["models"]
    assert models[0]["name"] == "main.churn.churn_model"
    assert models[0]["aliases"] == {"champion": 1}
    code, out, _ = stacks(project, "lineage", "churn_model@champion")
    assert code == 0
    assert "read: main.churn.customers v0" in out and "stack digest:" in out
    assert "promoted" in out and "gate pass: roc_auc >= 0.55" in out
    code, _, err = stacks(project, "rollback", "churn_model")
    assert code == 2 and err.startswith("error: ") and "no previous champion" in err
    code, _, err = stacks(project, "lineage", "churn_model@nope")
    assert code == 2 and "has no alias @nope" in err
    code, _, err = stacks(project, "lineage", "other_model/1")
    assert code == 2 and "no registered model 'main.churn.other_model'" in err
    code, _, err = stacks(project, "run", "nonsense")
    assert code == 2 and "unknown flow 'nonsense'" in err


def test_gate_rejection_exits_3_with_the_reason(project: Project) -> None:
    assert stacks(project, "run", "--runner", "direct")[0] == 0
    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.999}])
    code, out, err = stacks(project, "run", "--runner", "direct")
    assert code == 3
    assert "fail" in out and "rejected by a gate" in out
    assert err.startswith("error: v2 rejected by its gates: roc_auc")
    assert "the champion stays v1" in err and len(err.strip().splitlines()) == 1


def test_manual_approval_exits_4_then_approve_promotes(project: Project) -> None:
    project.set("approval", {"mode": "manual", "approvers": ["alice"]})
    code, out, err = stacks(project, "run", "--runner", "direct")
    assert code == 4
    assert "awaiting approval" in out
    assert "stacks approve churn_model 1 --by NAME" in err
    code, _, err = stacks(project, "approve", "churn_model", "1", "--by", "mallory")
    assert code == 2 and "'mallory' may not approve" in err
    code, out, _ = stacks(project, "approve", "churn_model", "1", "--by", "alice",
                          "--reason", "reviewed")  # fmt: skip
    assert code == 0 and "v1 is the champion" in out and "batch:" in out
    code, _, err = stacks(project, "reject", "churn_model", "1", "--by", "alice")
    assert code == 2 and "not awaiting approval" in err


def test_single_flows_pick_up_from_the_registry(project: Project) -> None:
    assert stacks(project, "run", "data_prep", "--runner", "direct")[0] == 0
    code, out, err = stacks(project, "run", "training", "--runner", "direct")
    assert code == 0 and "trained main.churn.churn_model/1" in out, err
    code, out, err = stacks(project, "run", "evaluation", "--runner", "direct")
    assert code == 0 and "challenger v1" in out, err
    code, out, err = stacks(project, "run", "deployment", "--runner", "direct")
    assert code == 0 and "@champion = v1" in out, err
    code, out, err = stacks(project, "run", "batch_inference", "--runner", "direct")
    assert code == 0 and "main.churn.predictions v0" in out, err
