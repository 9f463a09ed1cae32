"""The loader: environments, overlays, interpolation, relative paths, static references."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakestacks.errors import StackError, UserError
from lakestacks.spec import load_stack
from tests.conftest import REPO, STACKS

MINIMAL = """\
version: 1
name: demo
catalog: main.demo
data:
  sources:
    raw: {path: data/raw.csv}
  prep: {function: feats:build, output: features}
  split: {by: id, test: 0.2}
training:
  model: lakestacks.training.tabular:MLPClassifier
  target: y
  params: {hidden: 8}
  trainer: {max_epochs: 5, early_stopping: {patience: 2}}
evaluation:
  metrics: [roc_auc, f1]
  gates: [{metric: roc_auc, min: 0.7}]
"""


def write(tmp: Path, body: str, name: str = "stack.yaml") -> Path:
    path = tmp / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    (tmp / "feats.py").write_text("def build(raw):\n    return raw\n", encoding="utf-8")
    return path


def test_quickstart_resolves_each_environment() -> None:
    dev = load_stack(STACKS / "quickstart.yaml")
    assert dev.runtime.lake == str(STACKS / ".lake")
    assert dev.runtime.tracking_uri == f"sqlite:///{STACKS}/.lake/mlflow.db"
    assert dev.stack.training is not None and dev.stack.training.trainer.max_epochs == 20
    test = load_stack(STACKS / "quickstart.yaml", "test", environ={})
    assert test.stack.training is not None and test.stack.training.trainer.max_epochs == 2
    # the overlay merged into training.trainer, it did not replace its other keys
    assert test.stack.training.trainer.early_stopping is not None
    prod = load_stack(
        STACKS / "quickstart.yaml",
        "prod",
        environ={"LAKE_URI": "s3://acme-lake", "MLFLOW_TRACKING_URI": "http://mlflow:5000"},
    )
    assert prod.runtime.lake == "s3://acme-lake"
    assert prod.runtime.tracking_uri == "http://mlflow:5000"
    assert prod.catalog.table_path("features") == "s3://acme-lake/main/churn/features"
    assert prod.runtime.work_pool == "gpu"


def test_missing_variable_of_selected_environment_is_named() -> None:
    with pytest.raises(StackError) as err:
        load_stack(STACKS / "quickstart.yaml", "prod", environ={"LAKE_URI": "s3://x"})
    [problem] = err.value.problems
    assert "MLFLOW_TRACKING_URI" in problem.message
    assert problem.path == "environments.prod.tracking_uri"
    assert problem.line > 0


def test_overlay_lists_replace_and_mappings_merge(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """\
environments:
  ci:
    evaluation: {metrics: [roc_auc]}
    training: {params: {lr: 0.1}, trainer: {max_epochs: 1}}
""",
    )
    ci = load_stack(path, "ci").stack
    assert ci.evaluation is not None and ci.evaluation.metrics == ["roc_auc"]
    assert ci.training is not None
    assert ci.training.params == {"hidden": 8, "lr": 0.1}
    assert ci.training.trainer.max_epochs == 1
    assert ci.training.trainer.early_stopping is not None


def test_interpolation_is_type_checked_after_substitution(tmp_path: Path) -> None:
    body = MINIMAL.replace("max_epochs: 5", "max_epochs: '${EPOCHS:-3}'")
    path = write(tmp_path, body)
    stack = load_stack(path, environ={}).stack
    assert stack.training is not None and stack.training.trainer.max_epochs == 3
    stack = load_stack(path, environ={"EPOCHS": "7"}).stack
    assert stack.training is not None and stack.training.trainer.max_epochs == 7
    with pytest.raises(StackError) as err:
        load_stack(path, environ={"EPOCHS": "many"})
    assert err.value.problems[0].path == "training.trainer.max_epochs"
    assert "'many'" in err.value.problems[0].message


def test_relative_paths_resolve_against_the_stack_folder(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "environments:\n  dev: {tracking_uri: sqlite:///db/ml.db}\n")
    resolved = load_stack(path)
    source = resolved.stack.data.sources["raw"]
    assert source.path == str(tmp_path / "data" / "raw.csv")
    assert resolved.runtime.lake == str(tmp_path / ".lake")
    assert resolved.runtime.tracking_uri == f"sqlite:///{tmp_path}/db/ml.db"


def test_validate_show_is_the_same_from_any_working_directory(tmp_path: Path) -> None:
    def show(cwd: Path, stack: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "lakestacks.cli", "validate", "--show", stack],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    from_repo = show(REPO, "stacks/quickstart.yaml")
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    from_elsewhere = show(elsewhere, os.path.relpath(STACKS / "quickstart.yaml", elsewhere))
    from_stacks = show(STACKS, "quickstart.yaml")
    assert from_repo == from_elsewhere == from_stacks
    assert f"lake: {STACKS}/.lake" in from_repo


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    body = (
        MINIMAL.replace("max_epochs: 5", "max_epochs: 0")
        .replace("metric: roc_auc, min", "metric: accuracy, min")
        .replace("catalog: main.demo", "catalog: Main")
    )
    with pytest.raises(StackError) as err:
        load_stack(write(tmp_path, body))
    paths = [p.path for p in err.value.problems]
    assert paths == ["catalog", "training.trainer.max_epochs", "evaluation.gates[0].metric"]
    assert [p.line for p in err.value.problems] == [3, 13, 16]


def test_references_are_checked_without_running_user_code(tmp_path: Path) -> None:
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('imported!')\n")
    (pkg / "steps.py").write_text("def build(raw):\n    return raw\n")
    body = MINIMAL.replace("feats:build", "userpkg.steps:build")
    resolved = load_stack(write(tmp_path, body))
    assert resolved.stack.data.prep[0].function == "userpkg.steps:build"
    assert "userpkg" not in sys.modules
    with pytest.raises(StackError) as err:
        load_stack(write(tmp_path, body.replace("steps:build", "steps:biuld")))
    assert "did you mean 'build'" in err.value.problems[0].message


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="stack file not found"):
        load_stack(tmp_path / "nope.yaml")
