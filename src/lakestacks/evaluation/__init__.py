"""Scoring a candidate model: built-in metrics from scikit-learn, and custom ones.

The champion is scored on the same rows as the challenger, so gates compare like with like.
"""

from __future__ import annotations

from lakestacks.evaluation.metrics import MetricFn, compute_metrics, load_custom_metrics

__all__ = ["MetricFn", "compute_metrics", "load_custom_metrics"]
