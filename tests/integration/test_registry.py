"""The registry layer on a real MLflow SQLite store: compare-and-set promotion, rollback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lakestacks import registry
from lakestacks.flows._records import git_sha

pytestmark = pytest.mark.integration

NAME = "main.test.doubler"


class Doubler:
    task = "regression"

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.asarray(data["x"], dtype="float64") * 2


@pytest.fixture
def versions(tmp_path: Path) -> list[int]:
    """Three registered versions of one model in a fresh store."""
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    registry.configure(uri)
    experiment = registry.ensure_experiment("t", registry.artifact_location(uri, str(tmp_path)))
    out = []
    for i in range(3):
        with registry.start_run(experiment, f"run {i}", {}) as run:
            model_uri = registry.log_predictor(run, Doubler(), pd.DataFrame({"x": [1.0, 2.0]}))
            out.append(registry.register(model_uri, NAME, {"i": i}))
    assert not (Path.cwd() / "mlruns").exists()
    return out


def test_promotion_is_compare_and_set(versions: list[int]) -> None:
    v1, v2, v3 = versions
    registry.promote(NAME, v1, expected_champion=None)
    move = registry.promote(NAME, v2, expected_champion=v1)
    assert (move.champion_before, move.champion_after, move.previous_after) == (v1, v2, v1)
    # v3 was judged against v1, but v2 is champion now: refused, nothing moves.
    with pytest.raises(registry.PromotionRefused, match=r"evaluated against v1.*now v2"):
        registry.promote(NAME, v3, expected_champion=v1)
    assert registry.alias_version(NAME, registry.CHAMPION) == v2
    assert registry.alias_version(NAME, registry.PREVIOUS) == v1
    loaded = registry.load_model(NAME, v2)
    assert loaded.columns == ["x"]
    assert loaded.predict(pd.DataFrame({"x": [3.0], "extra": ["ignored"]}))["prediction"][0] == 6.0


def test_rollback_steps_back_through_promotions(versions: list[int]) -> None:
    v1, v2, v3 = versions
    registry.promote(NAME, v1, None)
    registry.promote(NAME, v2, v1)
    registry.promote(NAME, v3, v2)
    assert registry.rollback(NAME).champion_after == v2
    assert registry.alias_version(NAME, registry.PREVIOUS) == v1
    assert registry.rollback(NAME).champion_after == v1
    assert registry.alias_version(NAME, registry.PREVIOUS) is None
    with pytest.raises(registry.PromotionRefused, match="no previous champion"):
        registry.rollback(NAME)
    with pytest.raises(registry.ModelNotFound, match="no registered model"):
        registry.rollback("main.test.nothing")


def test_git_sha_inside_and_outside_a_repository(tmp_path: Path) -> None:
    assert git_sha(tmp_path) is None
    run = {"cwd": tmp_path, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q"], **run)
    (tmp_path / "f").write_text("x")
    subprocess.run(["git", "add", "f"], **run)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "m"],
        **run,
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], **run, text=True).stdout.strip()
    assert git_sha(tmp_path) == head
