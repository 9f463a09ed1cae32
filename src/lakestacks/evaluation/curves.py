"""Evaluation curves as data, and their charts.

Scored once, the test split's curves (ROC, precision-recall and the confusion matrix of a
classifier; the residuals of a regressor) are kept as plain JSON-safe data, downsampled to a
few hundred points, so a report or the monitoring page redraws them (:func:`curve_plots`)
without loading a model or scoring again.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from lakestacks.plots import Series, heatmap, line_chart, scatter_chart

__all__ = ["classification_curves", "curve_plots", "regression_curves"]

CURVE_POINTS = 200  # most points kept of a ROC or precision-recall curve
RESIDUAL_POINTS = 500  # most points kept of a residual plot
_HISTOGRAM_BINS = 20
# As in metrics: P(y=1) above this predicts class 1, as accuracy, precision, recall and f1 do.
_THRESHOLD = 0.5


def _keep(n: int, most: int) -> npt.NDArray[np.int64]:
    """Indices of at most ``most`` of ``n`` points, evenly spaced, the first and last kept."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def _rounded(values: npt.NDArray[Any]) -> list[float]:
    # Six significant digits: a chart needs no more, and the JSON stays small.
    return [float(f"{v:.6g}") for v in values.tolist()]


def _finite(y_true: Any, y_pred: Any) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    keep = np.isfinite(y) & np.isfinite(p)
    return y[keep], p[keep]


def classification_curves(
    y_true: Any, y_pred: Any, max_points: int = CURVE_POINTS
) -> dict[str, Any]:
    """ROC and precision-recall curves and the confusion matrix at P(y=1) > 0.5.

    The curves are scikit-learn's ``roc_curve`` (with ``drop_intermediate=False``) and
    ``precision_recall_curve``, one point per distinct score, then downsampled to at most
    ``max_points``. A curve is None when it is undefined (one class only, or no rows).

    Args:
        y_true: 0/1 labels.
        y_pred: P(y=1) per row; rows where either value is not finite are left out.
        max_points: The most points kept of each curve.

    Returns:
        ``{"task": "classification", "rows", "roc": {"fpr", "tpr", "thresholds"} | None,
        "pr": {"recall", "precision", "thresholds"} | None, "confusion_matrix": {"labels",
        "matrix", "threshold"}}``; ``matrix[i][j]`` counts rows of true class ``i``
        predicted ``j``.

    Example:
        >>> c = classification_curves([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
        >>> c["confusion_matrix"]["matrix"]
        [[1, 1], [1, 1]]
    """
    y, p = _finite(y_true, y_pred)
    label = (p > _THRESHOLD).astype(np.int64)
    truth = y.astype(np.int64)
    matrix = [[int(np.sum((truth == t) & (label == q))) for q in (0, 1)] for t in (0, 1)]
    out: dict[str, Any] = {
        "task": "classification",
        "rows": len(y),
        "roc": None,
        "pr": None,
        "confusion_matrix": {"labels": [0, 1], "matrix": matrix, "threshold": _THRESHOLD},
    }
    positives = float(truth.sum())
    negatives = len(truth) - positives
    if positives == 0 or negatives == 0:
        return out
    # One point per distinct score, highest first: cumulative counts above each threshold.
    order = np.argsort(-p, kind="mergesort")
    scores, hits = p[order], truth[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tp = np.cumsum(hits)[last].astype(np.float64)
    fp = (last + 1) - tp
    thresholds = scores[last]

    roc = _keep(len(tp) + 1, max_points)
    fpr, tpr = np.r_[0.0, fp / negatives], np.r_[0.0, tp / positives]
    out["roc"] = {
        "fpr": _rounded(fpr[roc]),
        "tpr": _rounded(tpr[roc]),
        "thresholds": [None if i == 0 else float(f"{thresholds[i - 1]:.6g}") for i in roc],
    }
    # As scikit-learn: lowest threshold first, then recall 0 at precision 1.
    precision = np.r_[(tp / (tp + fp))[::-1], 1.0]
    recall = np.r_[(tp / positives)[::-1], 0.0]
    pr = _keep(len(precision), max_points)
    pr_thresholds = thresholds[::-1]
    out["pr"] = {
        "recall": _rounded(recall[pr]),
        "precision": _rounded(precision[pr]),
        "thresholds": [
            float(f"{pr_thresholds[i]:.6g}") if i < len(pr_thresholds) else None for i in pr
        ],
    }
    return out


def regression_curves(
    y_true: Any, y_pred: Any, max_points: int = RESIDUAL_POINTS
) -> dict[str, Any]:
    """Residuals (truth minus prediction) against the prediction, and their histogram.

    Args:
        y_true: True values.
        y_pred: Predicted values; rows where either value is not finite are left out.
        max_points: The most residual points kept (evenly spaced over the rows, ordered by
            prediction, so the plot's spread is the data's).

    Returns:
        ``{"task": "regression", "rows", "residuals": {"prediction", "residual"},
        "histogram": {"edges", "counts"}}``.

    Example:
        >>> regression_curves([1.0, 2.0, 3.0], [1.5, 2.0, 2.0])["residuals"]["residual"]
        [-0.5, 0.0, 1.0]
    """
    y, p = _finite(y_true, y_pred)
    residual = y - p
    order = np.argsort(p, kind="mergesort")
    kept = order[_keep(len(order), max_points)]
    counts, edges = (
        np.histogram(residual, bins=_HISTOGRAM_BINS) if len(residual) else (np.array([]), [])
    )
    return {
        "task": "regression",
        "rows": len(y),
        "residuals": {"prediction": _rounded(p[kept]), "residual": _rounded(residual[kept])},
        "histogram": {
            "edges": _rounded(np.asarray(edges)),
            "counts": [int(c) for c in counts],
        },
    }


def curve_plots(curves: dict[str, Any], title: str = "") -> dict[str, str]:
    """The charts of :func:`classification_curves` or :func:`regression_curves` data, as
    SVG documents by file name (``roc.svg``, ``pr.svg``, ``confusion_matrix.svg``;
    ``residuals.svg``). An undefined curve has no chart.

    Args:
        curves: The data, as computed or as read back from JSON.
        title: Prefixed to each chart's title, e.g. the model version.

    Example:
        >>> sorted(curve_plots(classification_curves([0, 1, 1], [0.2, 0.7, 0.4])))
        ['confusion_matrix.svg', 'pr.svg', 'roc.svg']
    """
    prefix = f"{title}: " if title else ""
    plots: dict[str, str] = {}
    roc, pr = curves.get("roc"), curves.get("pr")
    if roc:
        plots["roc.svg"] = line_chart(
            [
                Series("model", list(zip(roc["fpr"], roc["tpr"], strict=True))),
                Series("chance", [(0.0, 0.0), (1.0, 1.0)], dashed=True, color="#888888"),
            ],
            title=f"{prefix}ROC curve",
            x_label="false positive rate",
            y_label="true positive rate",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
        )
    if pr:
        plots["pr.svg"] = line_chart(
            [Series("model", list(zip(pr["recall"], pr["precision"], strict=True)))],
            title=f"{prefix}precision-recall curve",
            x_label="recall",
            y_label="precision",
            x_range=(0.0, 1.0),
            y_range=(0.0, 1.0),
        )
    matrix = curves.get("confusion_matrix")
    if matrix:
        labels = [str(label) for label in matrix["labels"]]
        plots["confusion_matrix.svg"] = heatmap(
            matrix["matrix"],
            title=f"{prefix}confusion matrix (P > {matrix['threshold']:g})",
            row_labels=labels,
            col_labels=labels,
            x_label="predicted",
            y_label="actual",
        )
    residuals = curves.get("residuals")
    if residuals:
        plots["residuals.svg"] = scatter_chart(
            [Series("", list(zip(residuals["prediction"], residuals["residual"], strict=True)))],
            title=f"{prefix}residuals",
            x_label="prediction",
            y_label="actual - prediction",
            reference_y=0.0,
        )
    return plots
