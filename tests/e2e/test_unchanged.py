"""Reruns that change nothing change nothing: a run whose data, stack and code match the
champion's reuses it and says so (``--force`` retrains); and an MLflow run that a killed
process left RUNNING is marked KILLED by the next run, which says so."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from lakestacks import api, registry
from lakestacks.cli.main import app
from tests.e2e.conftest import Project

pytestmark = pytest.mark.integration

MODEL = "main.churn.churn_model"


def versions(project: Project) -> list[int]:
    return [v.version for v in api.models(project.path)[0].versions]


def test_the_training_flow_alone_reuses_the_champion_trained_on_the_same_inputs(
    project: Project,
) -> None:
    assert project.run().champion == 1
    again = project.run("training")
    assert again.training is not None and again.training.unchanged
    assert again.training.version == 1 and versions(project) == [1]
    assert again.summaries["training"][0].startswith("not retrained: main.churn.churn_model/1")
    forced = project.run("training", force=True)
    assert forced.training is not None and forced.training.version == 2


def test_an_unchanged_pipeline_rerun_says_nothing_changed(project: Project) -> None:
    assert project.run().champion == 1
    result = CliRunner().invoke(app, ["run", "-s", str(project.path), "--runner", "direct"])
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())
    assert "nothing changed: the champion v1 was trained on the same data" in said
    assert versions(project) == [1]  # nothing registered, nothing promoted
    info = registry.get_version(MODEL, 1)
    assert info.record.status == registry.VersionStatus.CHAMPION
    forced = CliRunner().invoke(
        app, ["run", "-s", str(project.path), "--runner", "direct", "--force", "--json"]
    )
    assert forced.exit_code == 0 and '"status": "kept"' in forced.stdout  # a tie keeps v1
    assert versions(project) == [2, 1]


KILLED = """\
import os, signal
from lakestacks import registry
registry.configure({uri!r})
experiment = registry.ensure_experiment("churn", None)
with registry.start_run(experiment, "train churn", {{}}) as run:
    print(run.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_left_running_by_a_killed_process_is_marked_killed(project: Project) -> None:
    assert project.run().champion == 1
    uri = f"sqlite:///{project.lake}/mlflow.db"
    script = textwrap.dedent(KILLED.format(uri=uri))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == -9, done.stderr
    run_id = done.stdout.split()[0]
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    assert client.get_run(run_id).info.status == "RUNNING"
    result = CliRunner().invoke(app, ["run", "training", "-s", str(project.path)])
    assert result.exit_code == 0, result.stderr
    said = " ".join(result.stdout.split())  # whatever the console's wrapping
    assert f"({run_id}) was left RUNNING by process" in said and "marked KILLED" in said
    assert client.get_run(run_id).info.status == "KILLED"
