"""Quality per window: realised against sklearn, estimated (CBPE) against the truth under
covariate shift with calibrated probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from lakestacks.monitoring.quality import estimated, realised


def test_realised_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 2, 3000).astype(float)
    probability = np.clip(truth * 0.3 + rng.random(3000) * 0.7, 0, 1).round(2)  # with ties
    prediction = (probability >= 0.5).astype(float)
    got = realised(truth, probability, prediction)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(truth, probability), abs=1e-12)
    assert got["accuracy"] == pytest.approx(accuracy_score(truth, prediction))
    regression = realised(np.array([1.0, 2.0, 4.0]), None, np.array([1.0, 3.0, 2.0]))
    assert regression == pytest.approx({"rmse": np.sqrt(5 / 3), "mae": 1.0})


@pytest.mark.parametrize("shift", [0.0, 0.8, 1.6])
def test_the_estimate_tracks_the_realised_quality_under_covariate_shift(shift: float) -> None:
    """The model is the true P(y | x) (calibrated); the inputs move, P(y | x) does not."""
    rng = np.random.default_rng(int(shift * 10) + 3)
    weights = np.array([1.2, -0.8, 0.5])
    for _ in range(5):
        x = rng.normal(shift * np.array([1.0, 0.5, -0.5]), 1.0, (20_000, 3))
        probability = 1 / (1 + np.exp(-(x @ weights - 0.3)))
        truth = (rng.random(20_000) < probability).astype(float)
        prediction = (probability >= 0.5).astype(float)
        real = realised(truth, probability, prediction)
        guess = estimated(probability)
        assert guess["accuracy"] == pytest.approx(real["accuracy"], abs=0.03)
        assert guess["roc_auc"] == pytest.approx(real["roc_auc"], abs=0.03)
