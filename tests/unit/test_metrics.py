"""Built-in metrics against scikit-learn; undefined cases, misuse, and custom metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pytest
from sklearn import metrics as skm

from lakestacks.errors import UserError
from lakestacks.evaluation import compute_metrics, load_custom_metrics
from lakestacks.spec.evaluation import CLASSIFICATION, METRICS, EvaluationSection

CLASSIFIERS = sorted(CLASSIFICATION)
REGRESSORS = sorted(set(METRICS) - CLASSIFICATION)
SEEDS = [0, 1, 2, 7, 42]
# Undefined or zero-division cases give nan or 0 quietly, not a scikit-learn warning.
NO_WARNINGS = pytest.mark.filterwarnings("error")


def sk_classification(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    label = (p > 0.5).astype(int)
    return {
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "f1": skm.f1_score(y, label, zero_division=0),
        "accuracy": skm.accuracy_score(y, label),
        "precision": skm.precision_score(y, label, zero_division=0),
        "recall": skm.recall_score(y, label, zero_division=0),
        "log_loss": skm.log_loss(y, y_proba=p, labels=[0, 1]),
    }


def sk_regression(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "rmse": skm.root_mean_squared_error(y, p),
        "mae": skm.mean_absolute_error(y, p),
        "r2": skm.r2_score(y, p),
        "mape": skm.mean_absolute_percentage_error(y, p),
    }


def both_classes(y: np.ndarray) -> np.ndarray:
    y[0], y[1] = 1, 0
    return y


def classification_cases(seed: int) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    n = 500
    y = both_classes(rng.integers(0, 2, n))
    yield "balanced", y, np.clip(0.3 * y + rng.uniform(0, 0.7, n), 0, 1)
    # one decimal: many tied scores, and some exactly at the 0.5 threshold
    y = both_classes(rng.integers(0, 2, n))
    yield "ties", y, np.round(np.clip(0.2 * y + rng.uniform(0, 0.8, n), 0, 1), 1)
    y = both_classes((rng.uniform(size=n) < 0.03).astype(int))
    yield "imbalanced", y, rng.beta(1 + 3 * y, 4, n)
    # hard 0/1 probabilities, wrong half the time: log loss at the clipping bound
    y = both_classes(rng.integers(0, 2, 50))
    yield "hard", y, rng.integers(0, 2, 50).astype(float)
    y = both_classes(rng.integers(0, 2, 7))
    yield "tiny", y, rng.uniform(size=7)


@pytest.mark.parametrize("seed", SEEDS)
def test_classification_metrics_match_sklearn(seed: int) -> None:
    for case, y, p in classification_cases(seed):
        ours = compute_metrics(CLASSIFIERS, y, p, "classification")
        theirs = sk_classification(y, p)
        for name in CLASSIFIERS:
            assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-14), (case, name)
            assert type(ours[name]) is float


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.normal(10, 5, 300)
    cases = {
        "noisy": (y, y + rng.normal(0, 2, 300)),
        "ties_and_zero_target": (np.round(y), np.round(y + rng.normal(0, 1, 300))),
        "bad_model": (y, rng.normal(0, 1, 300)),  # r2 below 0
    }
    cases["ties_and_zero_target"][0][:3] = 0.0  # MAPE's floor on |y_true|
    for case, (yt, yp) in cases.items():
        ours = compute_metrics(REGRESSORS, yt, yp, "regression")
        theirs = sk_regression(yt, yp)
        for name in REGRESSORS:
            assert ours[name] == pytest.approx(theirs[name], rel=1e-12), (case, name)
            assert type(ours[name]) is float


def test_classification_metrics_on_a_small_worked_example() -> None:
    # Worked by hand, so a broken metric fails here whatever scikit-learn does.
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.1, 0.4, 0.35, 0.8, 0.6, 0.45])  # predicts 1 for rows 3 and 4 only
    got = compute_metrics(CLASSIFIERS, y, p, "classification")
    assert got == pytest.approx(
        {
            "roc_auc": 6 / 9,  # positive above negative in 6 of 9 pairs
            "pr_auc": (1 + 2 / 3 + 3 / 5) / 3,  # precision where each positive is reached
            "accuracy": 3 / 6,
            "precision": 1 / 2,
            "recall": 1 / 3,
            "f1": 2 / 5,  # 2tp / (2tp + fp + fn)
            "log_loss": -np.mean(np.log([0.9, 0.6, 0.35, 0.8, 0.4, 0.45])),
        },
        rel=1e-12,
    )


def test_regression_metrics_on_a_small_worked_example() -> None:
    y = np.array([1.0, 2.0, 4.0, 8.0])
    p = np.array([1.5, 2.0, 3.0, 8.0])  # errors 0.5, 0, -1, 0
    got = compute_metrics(REGRESSORS, y, p, "regression")
    assert got == pytest.approx(
        {
            "rmse": np.sqrt(1.25 / 4),
            "mae": 1.5 / 4,
            "r2": 1 - 1.25 / 28.75,  # squared errors over squares about the mean 3.75
            "mape": (0.5 / 1 + 1 / 4) / 4,
        },
        rel=1e-12,
    )


def test_threshold_at_exactly_one_half_predicts_zero() -> None:
    y = np.array([1, 0, 1, 0])
    p = np.array([0.5, 0.5, 0.51, 0.49])
    got = compute_metrics(["accuracy", "precision", "recall"], y, p, "classification")
    assert got == {"accuracy": 0.75, "precision": 1.0, "recall": 0.5}


def test_results_keep_the_order_of_names_and_accept_lists() -> None:
    got = compute_metrics(["recall", "roc_auc"], [0, 1, 1], [0.2, 0.9, 0.4], "classification")
    assert list(got) == ["recall", "roc_auc"]
    assert got == {"recall": 0.5, "roc_auc": 1.0}


@NO_WARNINGS
def test_zero_division_scores_zero_like_sklearn() -> None:
    y = np.array([0, 0, 1, 1])
    p = np.full(4, 0.1)  # predicts no positives at all
    got = compute_metrics(["precision", "recall", "f1"], y, p, "classification")
    assert got == {"precision": 0.0, "recall": 0.0, "f1": 0.0}


@NO_WARNINGS
@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_auc_with_one_class_is_nan(labels: list[int]) -> None:
    got = compute_metrics(CLASSIFIERS, labels, [0.2, 0.7, 0.9], "classification")
    assert np.isnan(got["roc_auc"]) and np.isnan(got["pr_auc"])
    others = {name: value for name, value in got.items() if "auc" not in name}
    assert not any(np.isnan(v) for v in others.values())


@NO_WARNINGS
def test_r2_with_constant_target_is_nan() -> None:
    got = compute_metrics(["r2", "rmse"], [3.0, 3.0, 3.0], [3.0, 3.1, 2.9], "regression")
    assert np.isnan(got["r2"]) and got["rmse"] > 0
    one_row = compute_metrics(["r2", "mae"], [3.0], [2.5], "regression")
    assert np.isnan(one_row["r2"]) and one_row["mae"] == 0.5


@NO_WARNINGS
@pytest.mark.parametrize(
    ("task", "names"), [("classification", CLASSIFIERS), ("regression", REGRESSORS)]
)
def test_empty_input_is_nan(task: str, names: list[str]) -> None:
    empty = np.array([], dtype=float)
    got = compute_metrics(names, empty, empty, task)  # type: ignore[arg-type]
    assert all(np.isnan(v) for v in got.values())


@NO_WARNINGS
def test_nan_predictions_make_every_builtin_nan() -> None:
    got = compute_metrics(CLASSIFIERS, [0, 1, 1], [0.2, np.nan, 0.9], "classification")
    assert all(np.isnan(v) for v in got.values())
    got = compute_metrics(REGRESSORS, [1.0, 2.0, 3.0], [1.0, np.inf, 3.0], "regression")
    assert all(np.isnan(v) for v in got.values())


@pytest.mark.parametrize(
    ("name", "task"),
    [("rmse", "classification"), ("mape", "classification"), ("roc_auc", "regression")],
)
def test_metric_of_the_other_task_is_a_user_error(name: str, task: str) -> None:
    with pytest.raises(UserError, match=rf"metric '{name}' does not apply to {task}"):
        compute_metrics([name], [0, 1], [0.1, 0.9], task)  # type: ignore[arg-type]


def test_unknown_metric_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown metric 'auc'"):
        compute_metrics(["auc"], [0, 1], [0.1, 0.9], "classification")


def test_bad_classification_inputs_are_user_errors() -> None:
    with pytest.raises(UserError, match="must be 0 or 1; found 2"):
        compute_metrics(["accuracy"], [0, 1, 2], [0.1, 0.9, 0.5], "classification")
    with pytest.raises(UserError, match=r"probabilities P\(y=1\) in \[0, 1\]"):
        compute_metrics(["accuracy"], [0, 1], [-2.3, 1.7], "classification")  # logits
    with pytest.raises(UserError, match="y_true has 2 values but y_pred has 3"):
        compute_metrics(["rmse"], [0.0, 1.0], [0.1, 0.9, 0.5], "regression")


def within(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(y_true - y_pred) <= 1.0))


def test_custom_metric_is_called_with_the_arrays() -> None:
    got = compute_metrics(
        ["rmse", "within"], [1.0, 2.0, 3.0], [1.5, 2.0, 5.0], "regression", {"within": within}
    )
    assert got["within"] == pytest.approx(2 / 3)
    assert type(got["within"]) is float


def test_custom_metric_gets_copies() -> None:
    def sorts_in_place(y_true: np.ndarray, y_pred: np.ndarray) -> float:
        y_pred.sort()
        return 0.0

    y, p = np.array([0, 1, 1]), np.array([0.9, 0.1, 0.5])
    got = compute_metrics(["sorts", "roc_auc"], y, p, "classification", {"sorts": sorts_in_place})
    assert got["roc_auc"] == skm.roc_auc_score(y, p)


def boom(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    raise ValueError("bad\ninput\n  here")


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (boom, "custom metric 'm' failed: ValueError: bad input here"),
        (lambda y, p: "0.5", "custom metric 'm' failed: TypeError: returned str, not a number"),
        (lambda y, p: None, "custom metric 'm' failed: TypeError: returned NoneType, not a number"),
        (lambda y, p: y, "custom metric 'm' failed: TypeError: returned ndarray, not a number"),
    ],
)
def test_failing_custom_metric_is_a_one_line_user_error(
    fn: Callable[[np.ndarray, np.ndarray], float], message: str
) -> None:
    with pytest.raises(UserError) as err:
        compute_metrics(["m"], [1.0, 2.0], [1.0, 2.0], "regression", {"m": fn})
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_numpy_scalars_from_custom_metrics_become_floats() -> None:
    got = compute_metrics(
        ["m"], [1.0, 2.0], [1.0, 2.0], "regression", {"m": lambda y, p: np.float32(0.25)}
    )
    assert got == {"m": 0.25} and type(got["m"]) is float


def test_load_custom_metrics_imports_from_the_search_path(
    user_module: Callable[[str], tuple[str, list[str]]],
) -> None:
    module, search = user_module(
        """
        import numpy as np

        def within_one(y_true, y_pred):
            return float(np.mean(np.abs(y_true - y_pred) <= 1.0))
        """
    )
    section = EvaluationSection.model_validate(
        {
            "metrics": ["rmse"],
            "custom_metrics": {"within_one": {"function": f"{module}:within_one"}},
        },
        context={"search_path": search},
    )
    fns = load_custom_metrics(section, search)
    assert list(fns) == ["within_one"]
    got = compute_metrics(
        [*section.metrics, *fns], [1.0, 2.0, 3.0], [1.5, 2.0, 5.0], "regression", fns
    )
    assert got["within_one"] == pytest.approx(2 / 3)


def test_load_custom_metrics_failure_is_a_user_error(
    user_module: Callable[[str], tuple[str, list[str]]],
) -> None:
    module, search = user_module(
        """
        raise RuntimeError("missing credentials")

        def m(y_true, y_pred):
            return 0.0
        """
    )
    section = EvaluationSection.model_validate(
        {"metrics": ["rmse"], "custom_metrics": {"m": {"function": f"{module}:m"}}},
        context={"search_path": search},
    )
    with pytest.raises(UserError, match=r"custom metric 'm': cannot load .*RuntimeError: missing"):
        load_custom_metrics(section, search)
