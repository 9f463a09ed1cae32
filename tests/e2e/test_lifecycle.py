"""The model lifecycle end to end: real Delta tables, a real MLflow store, real training.

Each test starts from a clean lake and runs `stacks run` (through the API, direct runner)
one or more times, changing one thing in the stack between runs.
"""

from __future__ import annotations

import mlflow
import numpy as np
import pyarrow.compute as pc
import pytest

from lakestacks import api, registry
from lakestacks.data.tables import history, read_table
from lakestacks.errors import UserError
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "main.churn.churn_model"


def test_first_run_makes_champion_v1_and_scores_the_batch(project: Project) -> None:
    out = project.run()
    assert out.status == "promoted" and out.exit_code == 0
    assert out.champion == 1 and project.champion() == 1
    assert out.evaluation is not None and out.evaluation.champion_version is None
    first = [d for d in out.evaluation.decisions if d.kind == "vs_champion"]
    assert first[0].passed and "no champion yet" in first[0].reason
    assert out.evaluation.metrics["roc_auc"] > 0.6
    assert not (project.root / "mlruns").exists()
    assert (project.lake / "mlflow.db").exists()
    assert out.stages == [
        "data_prep", "training", "evaluation", "approval", "deployment", "batch_inference"
    ]  # fmt: skip
    # The predictions carry the version stamps of the champion that made them.
    predictions = read_table(str(project.lake / "main/churn/predictions"))
    assert predictions.num_rows == 3000
    assert set(pc.unique(predictions["model_version"]).to_pylist()) == {1}
    assert set(pc.unique(predictions["model_name"]).to_pylist()) == {MODEL}
    assert predictions["scored_at"].null_count == 0
    # MLflow's own loader predicts what our batch inference wrote.
    mlflow.set_tracking_uri(f"sqlite:///{project.lake}/mlflow.db")
    loaded = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    frame = predictions.drop_columns(
        ["prediction", "probability", "model_name", "model_version", "scored_at"]
    ).to_pandas()
    again = loaded.predict(frame)
    assert np.allclose(again["probability"], predictions["probability"].to_numpy(), atol=1e-7)
    assert (again["prediction"].to_numpy() == predictions["prediction"].to_numpy()).all()


def test_a_forced_rerun_ties_and_is_kept_unless_allow_tie_then_better_is_promoted(
    project: Project,
) -> None:
    # A weak champion: one feature.
    project.set("training.features", ["tenure"])
    assert project.run().champion == 1
    # Retrained on unchanged data and stack: deterministic, so it ties, and a tie is no
    # improvement: kept, exit 0, the champion stays.
    tie = project.run(force=True)
    assert tie.evaluation is not None and tie.evaluation.champion_version == 1
    assert tie.evaluation.metrics["roc_auc"] == tie.evaluation.champion_metrics["roc_auc"]  # type: ignore[index]
    assert tie.status == "kept" and tie.exit_code == 0 and tie.champion == 1
    assert "only ties the champion's" in tie.message
    # allow_tie opts into promoting an equal model.
    project.set("evaluation.gates", [{"metric": "roc_auc", "vs": "champion", "allow_tie": True}])
    assert project.run(force=True).champion == 3
    # Demand a clear improvement: the same model again is kept, exit 0, champion unchanged.
    project.set("evaluation.gates", [{"metric": "roc_auc", "vs": "champion", "min_delta": 0.01}])
    kept = project.run(force=True)
    assert kept.status == "kept" and kept.exit_code == 0 and kept.champion == 3
    assert "champion stays v3" in kept.message
    # Every feature: clearly better, promoted over v3 with the same gate.
    project.set("training.features", None)
    better = project.run()
    assert better.evaluation is not None and better.evaluation.champion_version == 3
    assert (
        better.evaluation.metrics["roc_auc"] > better.evaluation.champion_metrics["roc_auc"] + 0.01
    )  # type: ignore[index]
    assert better.status == "promoted" and better.champion == 5
    assert registry.alias_version(MODEL, registry.PREVIOUS) == 3
    # Clearly worse against the new champion: kept.
    project.set("training.features", ["tenure"])
    worse = project.run()
    assert worse.status == "kept" and worse.champion == 5
    models = {m.name: m for m in api.models(project.path)}
    assert models[MODEL].aliases == {"champion": 5, "previous": 3}


def test_failing_gates_reject_with_exit_3_and_dry_run_promotes(project: Project) -> None:
    assert project.run().champion == 1
    before = history(str(project.lake / "main/churn/predictions"))[0]["version"]
    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.999}])
    out = project.run()
    assert out.status == "rejected" and out.exit_code == 3
    assert out.champion == 1 and project.champion() == 1
    assert "roc_auc" in out.message and "0.999" in out.message
    assert history(str(project.lake / "main/churn/predictions"))[0]["version"] == before
    decisions = read_table(str(project.lake / "main/churn/_decisions")).to_pylist()
    assert [d["passed"] for d in decisions if d["version"] == 2] == [False]
    project.set("evaluation.mode", "dry_run")
    dry = project.run()
    assert dry.status == "promoted" and dry.champion == 3
    assert dry.evaluation is not None and not dry.evaluation.decisions[0].passed
    info = registry.get_version(MODEL, 3)
    assert info.tags["lakestacks.gates"] == "failed (dry run)"


def test_custom_metric_and_custom_gate(project: Project) -> None:
    project.set("evaluation.custom_metrics", {"lift": {"function": "user_gates:lift"}})
    project.set(
        "evaluation.gates",
        [
            {"metric": "lift", "min": 1.0},
            {"function": "user_gates:no_worse_f1", "name": "f1_guard"},
        ],
    )
    out = project.run()
    assert out.evaluation is not None and out.evaluation.metrics["lift"] > 1.0
    assert [d.gate for d in out.evaluation.decisions] == ["lift >= 1", "f1_guard"]
    assert out.status == "promoted"


def test_manual_approval(project: Project) -> None:
    project.set("approval", {"mode": "manual", "approvers": ["alice", "bob"]})
    # Retrained identical models tie with the champion: let ties through to the approvers.
    project.set(
        "evaluation.gates",
        [
            {"metric": "roc_auc", "min": 0.55},
            {"metric": "roc_auc", "vs": "champion", "allow_tie": True},
        ],
    )
    first = project.run()
    assert first.status == "awaiting_approval" and first.exit_code == 4
    assert project.champion() is None
    assert registry.alias_version(MODEL, registry.CHALLENGER) == 1
    with pytest.raises(UserError, match="'mallory' may not approve"):
        api.approve("churn_model", version=1, by="mallory", path=project.path)
    done = api.approve("churn_model", version=1, by="alice", reason="looks fine", path=project.path)
    assert done.decision.champion_after == 1 and project.champion() == 1
    assert done.batch is not None and done.batch.version == 1
    assert registry.alias_version(MODEL, registry.CHALLENGER) is None
    with pytest.raises(UserError, match="not awaiting approval"):
        api.approve("churn_model", version=1, by="alice", path=project.path)
    # Two challengers judged against v1 (forced: nothing changed since v1); approving one
    # moves the champion, so the other's evaluation is stale and its approval is refused.
    assert project.run(force=True).exit_code == 4
    assert project.run(force=True).exit_code == 4
    api.approve("churn_model", version=3, by="bob", path=project.path)
    assert project.champion() == 3
    with pytest.raises(registry.PromotionRefused, match="evaluated against v1"):
        api.approve("churn_model", version=2, by="alice", path=project.path)
    assert project.champion() == 3
    # Reject leaves the champion.
    assert project.run(force=True).exit_code == 4
    rejected = api.reject("churn_model", version=4, by="bob", reason="drift", path=project.path)
    assert rejected.decision.status == "rejected" and project.champion() == 3
    line = api.lineage("churn_model/3", path=project.path)
    assert line["approval"]["by"] == "bob"
    events = [e["event"] for e in line["events"]]
    assert events[-3:] == ["approved", "promoted", "batch_scored"]


def test_rollback_and_lineage(project: Project) -> None:
    project.set("training.features", ["tenure"])  # a weak v1, so v2 is better
    project.run()
    project.set("training.features", None)
    project.run()
    assert project.champion() == 2
    move = api.rollback("churn_model", path=project.path, by="ops", reason="bad canary")
    assert (move.champion_before, move.champion_after) == (2, 1)
    assert project.champion() == 1 and registry.alias_version(MODEL, registry.PREVIOUS) is None
    with pytest.raises(registry.PromotionRefused, match="no previous champion"):
        api.rollback("churn_model", path=project.path)
    line = api.lineage("churn_model@champion", path=project.path)
    assert line["version"] == 1
    features = project.lake / "main/churn/customers"
    versions_read = line["inputs"]["main.churn.customers"]
    # The version it read is the one data prep wrote just before it (the first run's).
    assert versions_read == 0
    assert history(str(features))[-1]["version"] == 0
    assert line["stack_digest"] and line["run_id"]
    assert [d["gate"] for d in line["decisions"]] == ["roc_auc >= 0.55", "roc_auc vs champion"]
    v2 = api.lineage("churn_model/2", path=project.path)
    # The same data: the unchanged source was not committed again.
    assert v2["inputs"]["main.churn.customers"] == 0
    assert [h["version"] for h in history(str(features))] == [0]
    assert [e["event"] for e in line["events"]][-1] == "rolled_back"
    assert registry.get_version(MODEL, 2).tags["lakestacks.status"] == "rolled_back"


def test_user_model_trains_and_is_promoted(project: Project) -> None:
    project.set("training.model", "user_models:Logistic")
    project.set("training.params", {"lr": 0.05})
    out = project.run()
    assert out.status == "promoted" and out.champion == 1
    assert out.training is not None and out.training.task == "classification"
    assert out.evaluation is not None and out.evaluation.metrics["roc_auc"] > 0.6
    run = registry.run_record(out.training.run_id)
    assert run["params"]["model"] == "user_models:Logistic"


def test_broken_user_code_fails_before_anything_is_written(project: Project) -> None:
    assert project.run().champion == 1
    (project.root / "user_broken.py").write_text(
        "raise RuntimeError('boom')\n\n\ndef gate(challenger, champion):\n    return True\n"
    )
    project.set("evaluation.gates", [{"function": "user_broken:gate"}])
    customers = str(project.lake / "main/churn/customers")
    before = history(customers)[0]["version"]
    with pytest.raises(UserError, match="could not load user_broken:gate: RuntimeError: boom"):
        project.run()
    assert history(customers)[0]["version"] == before
    assert [v.version for v in api.models(project.path)[0].versions] == [1]
    assert project.champion() == 1
