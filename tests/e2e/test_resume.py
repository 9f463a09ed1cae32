"""`stacks run --resume`: a run that failed in evaluation is resumed without retraining, and
changed data or code makes it run the stages again."""

from __future__ import annotations

import subprocess
import sys

import pyarrow.csv as pcsv
import pytest

from lakestacks import api
from lakestacks.data.generators import churn_customers
from lakestacks.errors import UserError
from lakestacks.spec import load_stack
from tests.e2e.conftest import Project

pytestmark = pytest.mark.integration

FLAKY = '''\
from pathlib import Path


def lift(y_true, y_pred):
    """Fails while a FAIL file sits beside the stack: an evaluation that breaks mid-run."""
    if (Path(__file__).parent / "FAIL").exists():
        raise RuntimeError("injected failure in evaluation")
    return float(y_pred[y_true == 1].mean() / max(y_pred.mean(), 1e-9))
'''


@pytest.fixture
def csv_project(project: Project) -> Project:
    """The churn project reading a CSV file, with a custom metric that can be made to fail."""
    pcsv.write_csv(churn_customers(n=3000, seed=7), project.root / "customers.csv")
    project.set("data.sources", {"customers": {"path": "customers.csv"}})
    (project.root / "flaky.py").write_text(FLAKY)
    project.set("evaluation.custom_metrics", {"lift": {"function": "flaky:lift"}})
    return project


def training_runs(project: Project) -> int:
    """Training runs in MLflow: one per model trained."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project.lake}/mlflow.db")
    runs = mlflow.search_runs(
        experiment_names=["churn"],
        filter_string="tags.`mlflow.runName` LIKE 'churn v% (dev)'",
        output_format="list",
    )
    return len(runs)


def test_resume_after_a_failed_evaluation_does_not_retrain_until_the_data_changes(
    csv_project: Project,
) -> None:
    project = csv_project
    (project.root / "FAIL").touch()
    with pytest.raises(UserError, match="injected failure"):
        api.run(project.path, runner="direct")
    assert training_runs(project) == 1
    assert project.champion() is None

    # Resumed: data prep and training are reused; evaluation and the rest run.
    (project.root / "FAIL").unlink()
    resumed = api.run(project.path, runner="direct", resume=True)
    assert resumed.resumed == ["data_prep", "training"]
    assert resumed.status == "promoted"
    assert training_runs(project) == 1
    assert project.champion() == 1 == resumed.training.version  # type: ignore[union-attr]
    assert resumed.evaluation is not None and "lift" in resumed.evaluation.metrics

    # Resuming a finished run reuses everything and judges nothing twice.
    again = api.run(project.path, runner="direct", resume=True)
    assert again.resumed == ["data_prep", "training"]
    assert again.status == "promoted" and again.evaluation is None
    assert training_runs(project) == 1 and project.champion() == 1

    # New data: the keys change, data prep and training run again.
    rows = churn_customers(n=3200, seed=8)
    pcsv.write_csv(rows, project.root / "customers.csv")
    fresh = api.run(project.path, runner="direct", resume=True)
    assert fresh.resumed == []
    assert training_runs(project) == 2
    assert fresh.training is not None and fresh.training.version == 2


def test_without_resume_every_stage_runs(csv_project: Project) -> None:
    project = csv_project
    api.run(project.path, runner="direct")
    second = api.run(project.path, runner="direct")
    assert second.resumed == []
    # Unchanged data keeps its table versions (issue 15, finding 4), so training finds the
    # champion trained on them and does not train again; --force trains.
    assert second.training is not None and second.training.unchanged
    assert training_runs(csv_project) == 1
    api.run(project.path, runner="direct", force=True)
    assert training_runs(csv_project) == 2


def test_the_key_covers_code_and_data(csv_project: Project) -> None:
    from lakestacks.flows import resume
    from lakestacks.flows.stage import stage_named

    resolved = load_stack(csv_project.path)
    prep, train = stage_named("data_prep"), stage_named("training")
    inputs = resume.source_fingerprints(resolved)
    key, code = resume.stage_key(resolved, prep, inputs), resume.code_digest(resolved)
    flaky = csv_project.root / "flaky.py"
    flaky.write_text(flaky.read_text() + "\n# an uncommitted edit\n")
    assert resume.code_digest(resolved) != code
    assert resume.stage_key(resolved, prep, inputs) != key
    assert resume.stage_key(resolved, train, {"t": 1}) != resume.stage_key(
        resolved, train, {"t": 2}
    )
    assert resume.stage_key(resolved, prep, inputs) != resume.stage_key(resolved, train, inputs)


def test_cli_resume_says_what_it_reused(csv_project: Project) -> None:
    project = csv_project
    (project.root / "FAIL").touch()
    cmd = [
        sys.executable,
        "-m",
        "lakestacks.cli",
        "run",
        "--runner",
        "direct",
        "-s",
        str(project.path),
    ]
    failed = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert failed.returncode == 2 and "injected failure" in failed.stderr
    (project.root / "FAIL").unlink()
    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "resumed: data_prep, training reused from an earlier run" in done.stdout
    assert "Traceback" not in done.stderr
    bad = subprocess.run([*cmd, "training", "--resume"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--resume applies to the pipeline" in bad.stderr
