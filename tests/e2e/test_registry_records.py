"""Issue 15, findings 1, 7, 10 and 12: what `stacks models` and `lineage` say about aliases
and demotions, hints that carry the environment, messages that name what exists, and what
MLflow shows of each run and version (run names, dataset inputs, descriptions, plots).

One project for the module, trained three times: v1, v2 (v1 demoted), v3 awaiting approval
in ``prod`` (an environment over the same lake and registry).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app
from lakestacks.data.split import read_split
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "main.churn.churn_model"
DESCRIPTION = "Which customers churn next month: the registry records tests' stack."


def stacks(*args: str, project: Project | None = None) -> tuple[int, str, str]:
    extra = ["-s", str(project.path)] if project is not None else []
    result = CliRunner().invoke(app, [*args, *extra])
    assert "Traceback" not in result.output + result.stderr
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    project = Project(tmp_path_factory.mktemp("records"))
    project.set("description", DESCRIPTION)
    # Only a fixed gate: every run promotes, whatever the tie rule is.
    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.55}])
    project.set("deployment", {"model": "churn_model"})
    project.set("environments", {"dev": {"lake": "./lake"}, "prod": {"lake": "./lake"}})
    for seed in (1, 2):  # a changed stack: an unchanged one would reuse the champion
        project.set("training.trainer.seed", seed)
        code, _, err = stacks("run", "--runner", "direct", project=project)
        assert code == 0, err
    yield project


# --- finding 1: aliases and the status of a demoted champion ------------------------------


def test_models_json_shows_each_versions_aliases_and_a_demoted_status(trained: Project) -> None:
    code, out, err = stacks("models", "--json", project=trained)
    assert code == 0, err
    model = json.loads(out)["models"][0]
    assert model["aliases"] == {"champion": 2, "previous": 1}
    by_version = {v["version"]: v for v in model["versions"]}
    assert by_version[2]["aliases"] == ["champion"]
    assert by_version[1]["aliases"] == ["previous"]
    assert by_version[2]["record"]["status"] == "champion"
    assert by_version[1]["record"]["status"] == "demoted"


def test_models_table_answers_which_version_is_champion(trained: Project) -> None:
    code, out, err = stacks("models", project=trained)
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "@champion" in rows["2"] and "champion" in rows["2"]
    assert "@previous" in rows["1"] and "demoted" in rows["1"]
    assert "champion" not in rows["1"].replace("@previous", "")


def test_lineage_of_a_demoted_version_shows_aliases_and_the_demotion(trained: Project) -> None:
    code, out, err = stacks("lineage", "churn_model/1", project=trained)
    assert code == 0, err
    assert "status: demoted" in out and "aliases: @previous" in out
    assert "demoted" in out.split("stack digest:")[1]  # an event line, not just the status
    assert "(champion v1 -> v2)" in out
    code, out, _ = stacks("lineage", "churn_model/1", "--json", project=trained)
    events = [e["event"] for e in json.loads(out)["events"]]
    assert events[-1] == "demoted" and "promoted" in events


# --- finding 7: hints carry the environment; approve takes NAME@challenger and NAME/3 ------


def test_approval_hint_carries_the_env_and_approve_takes_references(trained: Project) -> None:
    trained.set("approval", {"mode": "manual", "approvers": ["alice"]})
    trained.set("training.trainer.seed", 3)
    try:
        code, out, err = stacks("run", "--runner", "direct", "--env", "prod", project=trained)
        assert code == 4, err
        assert "stacks approve churn_model 3 --by NAME --env prod" in out + err
        client = mlflow_client(trained)
        waiting = client.get_model_version(MODEL, "3")
        assert waiting.description.startswith("**Verdict: awaiting approval**")
        assert client.get_run(waiting.run_id).info.run_name == "churn v3 (prod)"
        # a version that is not awaiting approval: the message names the one that is
        code, _, err = stacks(
            "reject", "churn_model/2", "--by", "alice", "--env", "prod", project=trained
        )
        assert code == 2
        assert "churn_model/2 is not awaiting approval" in err
        assert "v3 is awaiting approval" in err and "--env prod" in err
        code, out, err = stacks(
            "approve", "churn_model@challenger", "--by", "alice", "--env", "prod", project=trained
        )
        assert code == 0, err
        assert "churn_model/3 approved by alice" in out
        approved = client.get_model_version(MODEL, "3").description
        assert approved.startswith("**Verdict: promoted: the champion (approved by alice)**")
    finally:
        trained.set("approval", {"mode": "auto"})


# --- finding 10: unknown names, bad references, a missing target, stack discovery ----------


def test_unknown_model_and_alias_say_what_exists(trained: Project) -> None:
    code, _, err = stacks("lineage", "churn_modle/1", project=trained)
    assert code == 2
    assert (
        "did you mean 'main.churn.churn_model'" in err and "models: main.churn.churn_model" in err
    )
    code, _, err = stacks("lineage", "churn_model@champoin", project=trained)
    assert code == 2
    assert "did you mean @champion" in err and "@previous" in err


def test_colon_version_says_to_write_name_slash_version(trained: Project) -> None:
    code, _, err = stacks("lineage", "churn_model:3", project=trained)
    assert code == 2 and "write churn_model/3" in err


def test_missing_target_names_the_table_by_catalog_name_and_lists_columns(
    trained: Project,
) -> None:
    trained.set("training.target", "churnd")
    try:
        code, _, err = stacks("run", "training", "--runner", "direct", project=trained)
    finally:
        trained.set("training.target", "churned")
    assert code == 2
    assert "target column 'churnd' is not in table main.churn.customers" in err
    assert str(trained.root) not in err
    assert "churned" in err and "customer_id" in err


def test_stack_file_is_found_from_a_sub_folder(
    trained: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = trained.root / "notebooks" / "deep"
    sub.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(sub)
    code, out, err = stacks("models", "--json")
    assert code == 0, err
    assert json.loads(out)["models"][0]["name"] == MODEL
    # the search stops at a repository's root and says where it looked
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    code, _, err = stacks("models")
    assert code == 2 and "stack file not found" in err
    assert str(repo / "src") in err and str(repo) in err


# --- finding 12: MLflow shows what each run read, how each version was judged, and plots ---


def mlflow_client(project: Project) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{project.lake}/mlflow.db")


def test_runs_are_named_for_the_version_and_environment_they_register(trained: Project) -> None:
    client = mlflow_client(trained)
    for version in ("1", "2"):
        run = client.get_run(client.get_model_version(MODEL, version).run_id)
        assert run.info.run_name == f"churn v{version} (dev)"


def test_runs_log_the_delta_tables_they_read_with_their_versions(trained: Project) -> None:
    client = mlflow_client(trained)
    path = trained.lake / "main" / "churn" / "customers"
    for version in ("1", "2"):
        run = client.get_run(client.get_model_version(MODEL, version).run_id)
        read = {}
        for found in run.inputs.dataset_inputs:
            tags = {t.key: t.value for t in found.tags}
            read[tags["mlflow.data.context"]] = (found.dataset, tags)
        assert sorted(read) == ["test", "training", "validation"]
        pinned = json.loads(run.data.tags["lakestacks.inputs"])["main.churn.customers"]
        for context, split in (("training", "train"), ("validation", "validation")):
            dataset, tags = read[context]
            assert dataset.name == "main.churn.customers"
            assert dataset.source_type == "delta_table"
            source = json.loads(dataset.source)
            assert source == {"path": str(path), "delta_table_version": pinned}
            assert tags["lakestacks.table_version"] == str(pinned)
            assert tags["lakestacks.split"] == split
            columns = {c["name"] for c in json.loads(dataset.schema)["mlflow_colspec"]}
            assert "churned" in columns and "tenure" in columns and "_split" not in columns
        test, _ = read["test"]
        assert json.loads(test.source)["delta_table_version"] == pinned
        assert len({d.digest for d, _ in read.values()}) == 3


def test_version_descriptions_hold_the_verdict_and_the_gate_table(trained: Project) -> None:
    client = mlflow_client(trained)
    first = client.get_model_version(MODEL, "1").description
    assert first.startswith("**Verdict: promoted, then replaced as the champion by v2**")
    assert "| metric | rule | value | champion | passed |" in first
    run = client.get_run(client.get_model_version(MODEL, "1").run_id)
    auc = run.data.metrics["test_roc_auc"]
    assert f"| roc_auc | roc_auc >= 0.55 | {auc:.4f} |  | yes |" in first
    assert "Gates: passed (mode enforce)" in first
    assert "Trained on main.churn.customers v" in first


def test_the_registered_model_carries_the_stacks_description(trained: Project) -> None:
    assert mlflow_client(trained).get_registered_model(MODEL).description == DESCRIPTION


def test_evaluation_logs_its_curves_as_data_and_plots(trained: Project, tmp_path: Path) -> None:
    client = mlflow_client(trained)
    version = client.get_model_version(MODEL, "1")
    files = {a.path for a in client.list_artifacts(version.run_id, "evaluation")}
    assert files == {
        "evaluation/curves.json",
        "evaluation/roc.svg",
        "evaluation/pr.svg",
        "evaluation/confusion_matrix.svg",
    }
    local = Path(client.download_artifacts(version.run_id, "evaluation", str(tmp_path)))
    curves = json.loads((local / "curves.json").read_text())
    assert curves["task"] == "classification"
    pinned = json.loads(client.get_run(version.run_id).data.tags["lakestacks.inputs"])
    test_rows = read_split(
        str(trained.lake / "main" / "churn" / "customers"),
        "test",
        None,
        pinned["main.churn.customers"],
    ).num_rows
    assert sum(map(sum, curves["confusion_matrix"]["matrix"])) == test_rows == curves["rows"]
    assert 2 < len(curves["roc"]["fpr"]) <= 201 and len(curves["pr"]["recall"]) <= 201
    auc = client.get_run(version.run_id).data.metrics["test_roc_auc"]
    assert np.trapezoid(curves["roc"]["tpr"], curves["roc"]["fpr"]) == pytest.approx(auc, abs=0.01)
    ns = "{http://www.w3.org/2000/svg}"
    roc = ET.parse(local / "roc.svg").getroot()  # noqa: S314 - written by the test's own run
    points = [p.get("points", "").split() for p in roc.iter(f"{ns}polyline")]
    assert [len(p) for p in points] == [len(curves["roc"]["fpr"]), 2]
    matrix = ET.parse(local / "confusion_matrix.svg").getroot()  # noqa: S314
    shown = [t.text for t in matrix.iter(f"{ns}text") if t.get("class") == "value"]
    assert shown == [f"{v:,}" for row in curves["confusion_matrix"]["matrix"] for v in row]
