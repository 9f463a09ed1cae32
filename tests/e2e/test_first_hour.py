"""A new user's first hour, as one story (issue 15's acceptance): scaffold a project, add a
feature, run the project's own tests and its pipeline in `test` and `dev`, run `prod` with
manual approval, follow the hint the run printed, ship a second version, and roll back.

Every command exits as the README documents, and `stacks models` tells the truth at each step.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_init import make, pytest_in, stacks

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACKAGE = "acme_model"
MODEL = f"{PACKAGE}_model"


def _models(project: Path, env: str) -> dict[str, Any]:
    """The model's aliases and each version's status, as `stacks models --json` says."""
    done = stacks("models", "--env", env, "--json", cwd=project)
    assert done.returncode == 0, done.stderr
    (model,) = [m for m in json.loads(done.stdout)["models"] if m["name"].endswith(f".{MODEL}")]
    return {
        "aliases": model["aliases"],
        "status": {v["version"]: v["record"]["status"] for v in model["versions"]},
    }


def _add_feature(project: Path, name: str, expression: str) -> None:
    """Append a column to what the feature function returns."""
    features = project / "src" / PACKAGE / "features.py"
    text = features.read_text(encoding="utf-8")
    head, sep, tail = text.rpartition("    return ")
    assert sep, text
    features.write_text(
        f"{head}    customers = {tail.strip()}\n"
        f"    return customers.append_column({name!r}, {expression})\n",
        encoding="utf-8",
    )


def _hint(output: str, command: str) -> list[str]:
    """The `stacks COMMAND ...` line a run printed, as argv, with NAME filled in."""
    match = re.search(rf"(stacks {command} [^\n`]*)", output)
    assert match, output
    return [w if w != "NAME" else "ada" for w in shlex.split(match[1])[1:]]


def test_a_new_users_first_hour(tmp_path: Path) -> None:
    project = make(tmp_path, "tabular-classifier")
    git = subprocess.run(
        ["git", "log", "--oneline"], cwd=project, capture_output=True, text=True, check=True
    )
    assert len(git.stdout.splitlines()) == 1  # `stacks init` made the first commit

    # A sensible feature: whether the customer is new (under six months with us).
    _add_feature(project, "is_new", "pc.cast(pc.less(customers['tenure'], 6), pa.int64())")
    own = pytest_in(project)  # the unit tests and the pipeline in `test`
    assert own.returncode == 0, own.stdout[-3000:]
    lake = {"STACKS_TEST_LAKE": str(tmp_path / "test-lake")}
    ran = stacks("run", "--env", "test", cwd=project, env=lake)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    ran = stacks("run", cwd=project)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "v1 is the champion" in ran.stdout
    assert _models(project, "dev") == {"aliases": {"champion": 1}, "status": {1: "champion"}}

    # prod: a person signs off. The run stops at the gate and says what to type.
    ran = stacks("run", "--env", "prod", cwd=project)
    assert ran.returncode == 4, ran.stdout + ran.stderr
    assert _models(project, "prod") == {
        "aliases": {"challenger": 1},
        "status": {1: "awaiting_approval"},
    }
    approve = _hint(ran.stdout + ran.stderr, "approve")
    assert "--env" in approve and "prod" in approve
    done = stacks(*approve, cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _models(project, "prod") == {"aliases": {"champion": 1}, "status": {1: "champion"}}

    # A second change, shipped the same way; then it is rolled back.
    stack = project / "stack.yaml"
    stack.write_text(
        stack.read_text(encoding="utf-8").replace("lr: 0.001", "lr: 0.003"), encoding="utf-8"
    )
    ran = stacks("run", "--env", "prod", cwd=project)
    assert ran.returncode == 4, ran.stdout + ran.stderr
    done = stacks(*_hint(ran.stdout + ran.stderr, "approve"), cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert _models(project, "prod") == {
        "aliases": {"champion": 2, "previous": 1},
        "status": {1: "demoted", 2: "champion"},
    }
    back = stacks("rollback", MODEL, "--env", "prod", "--by", "ada", cwd=project)
    assert back.returncode == 0, back.stdout + back.stderr
    after = _models(project, "prod")
    assert after["aliases"].get("champion") == 1
    assert after["status"][1] == "champion" and after["status"][2] == "rolled_back"
    # dev was never touched by prod's runs
    assert _models(project, "dev") == {"aliases": {"champion": 1}, "status": {1: "champion"}}
