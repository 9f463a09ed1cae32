"""The built-in metrics in numpy, and the user's custom metrics, scored on the test split.

Each built-in gives what scikit-learn gives for the same input (tests cross-check them), so a
user can reproduce a gate's number with the library they know; scikit-learn itself is not a
runtime dependency. A metric that is undefined on the data (AUC with one class present, r2
with a constant target, no rows, NaN in the predictions) is ``nan``, which every gate treats as
failing, rather than a number that would look meaningful.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from lakestacks.errors import UserError
from lakestacks.spec._refs import load_ref
from lakestacks.spec.evaluation import CLASSIFICATION, METRICS, EvaluationSection

__all__ = ["MetricFn", "compute_metrics", "load_custom_metrics"]

MetricFn = Callable[[np.ndarray, np.ndarray], float]
"""A metric: ``fn(y_true, y_pred) -> float``."""

Task = Literal["classification", "regression"]

NAN = float("nan")
# What scikit-learn (>= 1.5) clips log-loss probabilities and floors MAPE's |y_true| to.
_EPS = float(np.finfo(np.float64).eps)
# P(y=1) above this predicts class 1; at exactly 0.5 it predicts 0, as scikit-learn's
# ``LogisticRegression.predict`` and torchmetrics do.
_THRESHOLD = 0.5

_REGRESSION = frozenset(METRICS) - CLASSIFICATION


def _ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``, ties given the mean of the ranks they span."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], len(x)]
    group = np.repeat(np.arange(len(starts)), ends - starts)
    ranks = np.empty(len(x), dtype=np.float64)
    # A tie group spans positions start+1 .. end; its mean rank is their midpoint.
    ranks[order] = ((starts + 1 + ends) / 2.0)[group]
    return ranks


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    # Mann-Whitney U: the chance a random positive outranks a random negative, ties half.
    pos = y == 1
    n_pos = int(pos.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return NAN
    rank_sum = float(_ranks(p)[pos].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def _pr_auc(y: np.ndarray, p: np.ndarray) -> float:
    # Average precision: sum over distinct thresholds of (recall step) x precision there.
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == len(y):
        return NAN
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # the last row of each tied score
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(1.0 - ys)[last]
    precision = tp / (tp + fp)
    recall = tp / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _counts(y: np.ndarray, p: np.ndarray) -> tuple[int, int, int, int]:
    """True positives, false positives, false negatives, true negatives at the threshold."""
    pred = p > _THRESHOLD
    true = y == 1
    tp = int(np.sum(pred & true))
    fp = int(np.sum(pred & ~true))
    fn = int(np.sum(~pred & true))
    return tp, fp, fn, len(y) - tp - fp - fn


def _ratio(num: float, den: float) -> float:
    # scikit-learn's zero_division=0: an empty denominator scores 0.
    return num / den if den else 0.0


def _accuracy(y: np.ndarray, p: np.ndarray) -> float:
    tp, _, _, tn = _counts(y, p)
    return (tp + tn) / len(y)


def _precision(y: np.ndarray, p: np.ndarray) -> float:
    tp, fp, _, _ = _counts(y, p)
    return _ratio(tp, tp + fp)


def _recall(y: np.ndarray, p: np.ndarray) -> float:
    tp, _, fn, _ = _counts(y, p)
    return _ratio(tp, tp + fn)


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    tp, fp, fn, _ = _counts(y, p)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log(1.0 - q)))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((y - p) ** 2)))


def _mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(y - p)))


def _r2(y: np.ndarray, p: np.ndarray) -> float:
    total = float(np.sum((y - np.mean(y)) ** 2))
    if total == 0.0:
        return NAN
    return 1.0 - float(np.sum((y - p) ** 2)) / total


def _mape(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(p - y) / np.maximum(np.abs(y), _EPS)))


_BUILTIN: dict[str, MetricFn] = {
    "roc_auc": _roc_auc,
    "pr_auc": _pr_auc,
    "f1": _f1,
    "accuracy": _accuracy,
    "precision": _precision,
    "recall": _recall,
    "log_loss": _log_loss,
    "rmse": _rmse,
    "mae": _mae,
    "r2": _r2,
    "mape": _mape,
}


def _arrays(y_true: Any, y_pred: Any, task: Task) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if len(y) != len(p):
        raise UserError(f"y_true has {len(y)} values but y_pred has {len(p)}; they must match")
    if task == "classification":
        bad = np.unique(y[(y != 0) & (y != 1)])
        if len(bad):
            shown = ", ".join(f"{v:g}" for v in bad[:5])
            raise UserError(
                f"a classification target must be 0 or 1; found {shown}"
                f"{' ...' if len(bad) > 5 else ''}"
            )
        finite = p[np.isfinite(p)]
        if len(finite) and (finite.min() < 0.0 or finite.max() > 1.0):
            # Logits or labels here would silently skew every thresholded metric.
            raise UserError(
                "classification predictions must be probabilities P(y=1) in [0, 1]; found "
                f"values from {finite.min():g} to {finite.max():g}"
            )
    return y, p


def _custom_value(name: str, fn: MetricFn, y: np.ndarray, p: np.ndarray) -> float:
    def failed(kind: str, message: str) -> UserError:
        one_line = " ".join(message.split())
        return UserError(f"custom metric {name!r} failed: {kind}: {one_line}")

    try:
        # Copies, so a function that sorts or edits its input in place cannot skew the rest.
        value: Any = fn(y.copy(), p.copy())
    except Exception as exc:
        raise failed(type(exc).__name__, str(exc)) from exc
    if isinstance(value, str | bytes) or (isinstance(value, np.ndarray) and value.ndim > 0):
        raise failed("TypeError", f"returned {type(value).__name__}, not a number")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise failed("TypeError", f"returned {type(value).__name__}, not a number") from exc


def compute_metrics(
    names: Sequence[str],
    y_true: np.ndarray,
    y_pred: np.ndarray,
    task: Literal["classification", "regression"],
    custom: Mapping[str, MetricFn] | None = None,
) -> dict[str, float]:
    """Score predictions with built-in and custom metrics, as plain floats in ``names`` order.

    For classification ``y_true`` holds 0/1 and ``y_pred`` P(y=1); accuracy, precision, recall
    and f1 predict 1 where P(y=1) > 0.5. Built-ins match scikit-learn (precision, recall and
    f1 with ``zero_division=0``). An undefined metric is ``nan``.

    Args:
        names: Metrics to compute: built-in names or keys of ``custom``.
        y_true: True labels (classification) or values (regression).
        y_pred: P(y=1) (classification) or predicted values (regression).
        task: Which kind of model made ``y_pred``.
        custom: Custom metric functions by name, called as ``fn(y_true, y_pred)``.

    Returns:
        Each name mapped to its value.

    Raises:
        UserError: A name is unknown or does not apply to ``task``, the inputs do not fit
            ``task``, or a custom metric raised or returned something other than a number.

    Example:
        >>> y, p = np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9])
        >>> compute_metrics(["roc_auc", "accuracy"], y, p, "classification")
        {'roc_auc': 0.75, 'accuracy': 0.5}
    """
    custom = custom or {}
    applies = CLASSIFICATION if task == "classification" else _REGRESSION
    for name in names:
        if name in custom:
            continue
        if name not in _BUILTIN:
            known = ", ".join([*METRICS, *custom])
            raise UserError(f"unknown metric {name!r}; known metrics: {known}")
        if name not in applies:
            raise UserError(f"metric {name!r} does not apply to {task}")
    y, p = _arrays(y_true, y_pred, task)
    # NaN or inf anywhere makes every built-in undefined, not quietly thresholded or skewed.
    defined = len(y) > 0 and bool(np.isfinite(y).all() and np.isfinite(p).all())
    results: dict[str, float] = {}
    for name in names:
        if name in custom:
            results[name] = _custom_value(name, custom[name], y, p)
        else:
            results[name] = float(_BUILTIN[name](y, p)) if defined else NAN
    return results


def load_custom_metrics(
    section: EvaluationSection, search_path: Sequence[str]
) -> dict[str, MetricFn]:
    """Import the section's custom metric functions (this runs the user's module code).

    Args:
        section: The evaluation section whose ``custom_metrics`` to load.
        search_path: Folders searched before ``sys.path``, the stack file's folder first.

    Returns:
        Each custom metric's name mapped to its function.

    Raises:
        UserError: A function cannot be imported or is not callable.

    Example:
        >>> fns = load_custom_metrics(section, ["/path/to/stack"])
        >>> compute_metrics(list(fns), y_true, y_pred, "regression", fns)
        {'within_10pct': 0.93}
    """
    loaded: dict[str, MetricFn] = {}
    for name, metric in section.custom_metrics.items():
        try:
            fn = load_ref(metric.function, search_path)
        except Exception as exc:
            message = " ".join(str(exc).split())
            raise UserError(
                f"custom metric {name!r}: cannot load {metric.function!r}: "
                f"{type(exc).__name__}: {message}"
            ) from exc
        if not callable(fn):
            raise UserError(
                f"custom metric {name!r}: {metric.function!r} is a {type(fn).__name__}, "
                "not a function"
            )
        loaded[name] = fn
    return loaded
