"""Issue 15, finding 12: evaluation curves as data (ROC, precision-recall, confusion matrix,
residuals), checked against scikit-learn, downsampled, JSON-safe, and drawn from the data."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn import metrics as skm  # type: ignore[import-untyped]

from lakestacks.evaluation import classification_curves, curve_plots, regression_curves
from lakestacks.tasks import task_kind

NS = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize("n", [7, 60, 180])
def test_roc_and_pr_points_are_scikit_learns(n: int) -> None:
    rng = np.random.default_rng(n)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    p = np.round(rng.random(n), 1)  # ties, as a real model's rounded scores have
    curves = classification_curves(y, p)
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(curves["roc"]["fpr"], fpr, atol=1e-6)
    np.testing.assert_allclose(curves["roc"]["tpr"], tpr, atol=1e-6)
    precision, recall, thresholds = skm.precision_recall_curve(y, p)
    np.testing.assert_allclose(curves["pr"]["precision"], precision, atol=1e-6)
    np.testing.assert_allclose(curves["pr"]["recall"], recall, atol=1e-6)
    np.testing.assert_allclose(curves["pr"]["thresholds"][:-1], thresholds, atol=1e-6)
    # the trapezoid under the ROC points is scikit-learn's AUC
    area = np.trapezoid(curves["roc"]["tpr"], curves["roc"]["fpr"])
    assert area == pytest.approx(skm.roc_auc_score(y, p), abs=1e-6)


def test_confusion_matrix_is_at_the_metrics_threshold() -> None:
    y = np.array([0, 0, 0, 1, 1, 1, 1])
    p = np.array([0.1, 0.5, 0.7, 0.5, 0.51, 0.9, 0.2])  # 0.5 itself predicts 0
    matrix = classification_curves(y, p)["confusion_matrix"]
    assert matrix["matrix"] == skm.confusion_matrix(y, (p > 0.5).astype(int)).tolist()
    assert matrix["matrix"] == [[2, 1], [2, 2]] and matrix["threshold"] == 0.5


def test_curves_are_downsampled_keeping_both_ends() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 20_000)
    p = rng.random(20_000)
    curves = classification_curves(y, p)
    assert len(curves["roc"]["fpr"]) == 200 and len(curves["pr"]["recall"]) == 200
    assert curves["roc"]["fpr"][0] == 0.0 and curves["roc"]["tpr"][-1] == 1.0
    assert curves["pr"]["recall"][-1] == 0.0 and curves["pr"]["precision"][-1] == 1.0
    assert sum(map(sum, curves["confusion_matrix"]["matrix"])) == 20_000
    assert len(json.dumps(curves)) < 20_000  # small enough to keep with every run


def test_one_class_or_no_rows_has_no_curves_but_a_matrix() -> None:
    curves = classification_curves([1, 1, 1], [0.2, 0.7, np.nan])
    assert curves["roc"] is None and curves["pr"] is None
    assert curves["rows"] == 2 and curves["confusion_matrix"]["matrix"] == [[0, 0], [1, 1]]
    assert classification_curves([], [])["rows"] == 0
    assert sorted(curve_plots(curves)) == ["confusion_matrix.svg"]


def test_regression_residuals_and_histogram() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(100, 20, 3_000)
    p = y + rng.normal(0, 5, 3_000)
    curves = regression_curves(y, p)
    residuals = curves["residuals"]
    assert len(residuals["prediction"]) == 500 == len(residuals["residual"])
    assert residuals["prediction"] == sorted(residuals["prediction"])  # spread over the range
    assert residuals["prediction"][0] == pytest.approx(p.min(), rel=1e-5)
    assert residuals["prediction"][-1] == pytest.approx(p.max(), rel=1e-5)
    assert sum(curves["histogram"]["counts"]) == 3_000
    assert len(curves["histogram"]["edges"]) == len(curves["histogram"]["counts"]) + 1
    small = regression_curves([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])["residuals"]
    assert small == {"prediction": [1.5, 2.0, 2.0], "residual": [-0.5, 0.0, 1.0]}


def test_plots_redraw_from_the_data_read_back_from_json() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 1_000)
    p = np.clip(y * 0.3 + rng.random(1_000) * 0.7, 0, 1)
    curves = json.loads(json.dumps(classification_curves(y, p)))  # as a report reads it
    plots = curve_plots(curves, "churn v1 (dev)")
    assert sorted(plots) == ["confusion_matrix.svg", "pr.svg", "roc.svg"]
    roc = ET.fromstring(plots["roc.svg"])  # noqa: S314 - our own output
    model, chance = (e for e in roc.iter(f"{NS}polyline"))
    assert len(model.get("points", "").split()) == len(curves["roc"]["fpr"])
    assert len(chance.get("points", "").split()) == 2
    assert "churn v1 (dev): ROC curve" in plots["roc.svg"]
    matrix = ET.fromstring(plots["confusion_matrix.svg"])  # noqa: S314
    shown = [t.text for t in matrix.iter(f"{NS}text") if t.get("class") == "value"]
    expected = [f"{v:,}" for row in curves["confusion_matrix"]["matrix"] for v in row]
    assert shown == expected
    residuals = curve_plots(regression_curves(rng.random(800), rng.random(800)))
    assert sorted(residuals) == ["residuals.svg"]
    assert residuals["residuals.svg"].count("<circle ") == 500


def test_each_tabular_kind_gives_its_own_curves() -> None:
    y = np.array([0, 1, 1, 0], dtype=np.float32)
    p = np.array([0.2, 0.8, 0.4, 0.6])
    assert task_kind("classification").curves(y, p)["task"] == "classification"
    assert task_kind("regression").curves(y, p)["task"] == "regression"
