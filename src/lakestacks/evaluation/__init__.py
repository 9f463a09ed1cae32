"""Scoring a candidate model: built-in metrics from scikit-learn, custom ones, and the
curves (ROC, precision-recall, confusion matrix, residuals) kept as data and drawn as charts.

The champion is scored on the same rows as the challenger, so gates compare like with like.
"""

from __future__ import annotations

from lakestacks.evaluation.curves import classification_curves, curve_plots, regression_curves
from lakestacks.evaluation.metrics import MetricFn, compute_metrics, load_custom_metrics

__all__ = [
    "MetricFn",
    "classification_curves",
    "compute_metrics",
    "curve_plots",
    "load_custom_metrics",
    "regression_curves",
]
