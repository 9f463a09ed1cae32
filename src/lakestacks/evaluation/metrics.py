"""The built-in metrics, from scikit-learn, and the user's custom metrics, scored on the test split.

Each built-in is the ``sklearn.metrics`` function of the same meaning, so a user reproduces a
gate's number with the library they know. A metric that is undefined on the data (AUC with one
class present, r2 with a constant target, no rows, NaN in the predictions) is ``nan``, which
every gate treats as failing, rather than the 0.0 or 1.0 (and a warning) scikit-learn gives,
which would look meaningful.
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
# P(y=1) above this predicts class 1; at exactly 0.5 it predicts 0, as scikit-learn's
# ``LogisticRegression.predict`` and torchmetrics do.
_THRESHOLD = 0.5

_REGRESSION = frozenset(METRICS) - CLASSIFICATION


def _builtin(name: str, y: np.ndarray, p: np.ndarray) -> float:
    # Imported here: scikit-learn (with scipy) takes about a second to import, which a run
    # that never scores a model, such as data prep alone, should not pay.
    from sklearn import metrics as skm  # type: ignore[import-untyped]  # no py.typed marker

    label = (p > _THRESHOLD).astype(np.int64)
    # Checked before scikit-learn sees the data, which would give 0.0 or 1.0 and a warning.
    varies = bool(y.min() != y.max())
    # zero_division=0: no predicted (or no actual) positives scores 0, without a warning.
    match name:
        case "roc_auc":
            value = skm.roc_auc_score(y, p) if varies else NAN
        case "pr_auc":
            value = skm.average_precision_score(y, p) if varies else NAN
        case "accuracy":
            value = skm.accuracy_score(y, label)
        case "precision":
            value = skm.precision_score(y, label, zero_division=0)
        case "recall":
            value = skm.recall_score(y, label, zero_division=0)
        case "f1":
            value = skm.f1_score(y, label, zero_division=0)
        case "log_loss":
            # labels: a split with one class present is still a binary problem.
            value = skm.log_loss(y, p, labels=[0, 1])
        case "rmse":
            value = skm.root_mean_squared_error(y, p)
        case "mae":
            value = skm.mean_absolute_error(y, p)
        case "r2":
            value = skm.r2_score(y, p) if varies else NAN
        case "mape":
            value = skm.mean_absolute_percentage_error(y, p)
        case _:
            raise AssertionError(f"no built-in metric {name!r}")  # compute_metrics checks names
    return float(value)


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
    and f1 predict 1 where P(y=1) > 0.5. Built-ins are scikit-learn's (precision, recall and
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
        if name not in METRICS:
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
            results[name] = _builtin(name, y, p) if defined else NAN
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
