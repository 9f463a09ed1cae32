"""A stage added by a separate package through the ``lakestacks.stages`` entry point, with a
stack section of its own, and no edit to lakestacks: it is planned, run, summarised,
reused by ``--resume``, printed by ``--json`` and scheduled by ``stacks deploy``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakestacks import api
from lakestacks.errors import StackError
from tests.conftest import REPO
from tests.e2e.conftest import Project

pytestmark = pytest.mark.integration

PLUGIN = REPO / "tests" / "plugin"  # the package and its .dist-info, as pip leaves them


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The plug-in installed for this process and its children; the environment to use."""
    monkeypatch.syspath_prepend(str(PLUGIN))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGIN), str(REPO)])}
    yield env
    sys.modules.pop("lakestacks_rowcount", None)


@pytest.fixture
def counted(tmp_path: Path, installed: dict[str, str]) -> Project:
    project = Project(tmp_path)
    project.set("row_count", {"table": "customers", "min_rows": 100})
    return project


def stacks(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_plugin_stage_is_planned_run_summarised_and_resumed(
    counted: Project, installed: dict[str, str]
) -> None:
    names = [step.name for step in api.plan(counted.path)]
    assert names[:3] == ["data_prep", "row_count", "training"]

    done = stacks(installed, "run", "-s", str(counted.path), "--runner", "direct", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["schema"] == 1
    assert [s["name"] for s in outcome["stages"]][:3] == ["data_prep", "row_count", "training"]
    assert outcome["row_count"] == {"table": "main.churn.customers", "version": 0, "rows": 3000}

    resumed = api.run(counted.path, runner="direct", resume=True)
    assert resumed.resumed[:3] == ["data_prep", "row_count", "training"]
    assert resumed.result.of("row_count", object) is not None

    shown = stacks(installed, "run", "row_count", "-s", str(counted.path), "--runner", "direct")
    assert shown.returncode == 0, shown.stderr
    assert "row_count: main.churn.customers v0 has 3,000 rows" in shown.stdout


def test_the_plugin_stage_can_fail_the_run(counted: Project, installed: dict[str, str]) -> None:
    counted.set("row_count", {"table": "customers", "min_rows": 10**6})
    done = stacks(installed, "run", "-s", str(counted.path), "--runner", "direct")
    assert done.returncode == 2
    assert "customers has 3000 rows, fewer than 1000000" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_plugin_section_is_validated_with_file_and_line(
    counted: Project, installed: dict[str, str]
) -> None:
    counted.set("row_count", {"table": "customers", "min_rows": -1})
    with pytest.raises(StackError, match=r"stack.yaml:\d+:\d+: row_count.min_rows"):
        api.load_stack(counted.path)
    checked = stacks(installed, "validate", str(counted.path))
    assert checked.returncode == 2 and "row_count.min_rows" in checked.stderr


def test_without_the_plugin_its_section_is_an_unknown_key(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.set("row_count", {"table": "customers"})
    with pytest.raises(StackError, match="unknown key 'row_count'"):
        api.load_stack(project.path)


def test_deploy_schedules_the_plugin_stage(
    counted: Project, installed: dict[str, str], prefect_api: str
) -> None:
    counted.set("schedules", {"row_count": "0 * * * *"})
    env = {**installed, "PREFECT_API_URL": prefect_api}
    done = stacks(env, "deploy", "-s", str(counted.path), "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    planned = {c["deployment"]: c for c in json.loads(done.stdout)["changes"]}
    assert planned["row_count/churn-dev"]["action"] == "add"
    from lakestacks import entrypoints

    flow = entrypoints.row_count
    assert flow.name == "row_count"
