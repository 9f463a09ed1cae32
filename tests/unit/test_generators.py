"""Tests for the synthetic churn generator: determinism, schema, planted flaws, calibration."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from lakestacks.data import generators
from lakestacks.data.generators import churn_customers

N = 20_000

COLUMNS = [
    "customer_id",
    "tenure",
    "monthly_charges",
    "total_charges",
    "contract",
    "payment_method",
    "internet_service",
    "support_calls",
    "age",
    "num_products",
    "churned",
]
NUMERIC = ["tenure", "monthly_charges", "total_charges", "support_calls", "age", "num_products"]
CATEGORICAL = ["contract", "payment_method", "internet_service"]
VALID_RANGES = {"tenure": (0, 120), "age": (18, 90)}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return churn_customers()


@pytest.fixture(scope="module")
def frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A seeded 80/20 permutation split."""
    order = np.random.default_rng(0).permutation(len(frame))
    cut = int(0.8 * len(frame))
    return frame.iloc[order[:cut]], frame.iloc[order[cut:]]


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Clip the planted out-of-range values back into their valid ranges."""
    out = frame.copy()
    for column, (low, high) in VALID_RANGES.items():
        out[column] = out[column].clip(low, high)
    return out


def _well_specified() -> Pipeline:
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore"),
    )
    features = ColumnTransformer([("num", numeric, NUMERIC), ("cat", categorical, CATEGORICAL)])
    return make_pipeline(features, LogisticRegression(max_iter=1000))


def _test_auc(model: Pipeline, train: pd.DataFrame, test: pd.DataFrame, y: str) -> float:
    features = [c for c in train.columns if c not in ("customer_id", "churned", "shuffled")]
    model.fit(train[features], train[y])
    return float(roc_auc_score(test[y], model.predict_proba(test[features])[:, 1]))


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_equal_tables(table: pa.Table) -> None:
    assert churn_customers(N, seed=7).equals(table)


def test_other_seed_gives_different_table(table: pa.Table) -> None:
    other = churn_customers(N, seed=8)
    assert not other.equals(table)
    assert other.column("customer_id").equals(table.column("customer_id"))
    assert not other.column("churned").equals(table.column("churned"))


# --- shape and schema ----------------------------------------------------------------------


def test_schema(table: pa.Table) -> None:
    assert table.column_names == COLUMNS
    types = {field.name: field.type for field in table.schema}
    for name in ("customer_id", "tenure", "support_calls", "age", "num_products", "churned"):
        assert types[name] == pa.int64(), name
    for name in ("monthly_charges", "total_charges"):
        assert types[name] == pa.float64(), name
    for name in CATEGORICAL:
        assert types[name] == pa.string(), name


def test_row_count_and_unique_ids(table: pa.Table) -> None:
    assert table.num_rows == N
    ids = table.column("customer_id").to_numpy()
    np.testing.assert_array_equal(np.sort(ids), np.arange(1, N + 1))


@pytest.mark.parametrize("n", [1, 7, 1_000])
def test_small_tables(n: int) -> None:
    small = churn_customers(n, seed=3)
    assert small.num_rows == n
    assert small.column_names == COLUMNS


@pytest.mark.parametrize("n", [0, -5])
def test_rejects_empty(n: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        churn_customers(n)


def test_docstring_example() -> None:
    assert doctest.testmod(generators, raise_on_error=True).attempted > 0


# --- values and planted data-quality problems ----------------------------------------------


def test_categories(frame: pd.DataFrame) -> None:
    assert set(frame["contract"]) == {"month-to-month", "one-year", "two-year"}
    assert set(frame["payment_method"].dropna()) == {"card", "bank", "check", "electronic"}
    assert set(frame["internet_service"]) == {"fiber", "dsl", "none"}


def test_clean_values_in_range(frame: pd.DataFrame) -> None:
    tenure = frame["tenure"][~frame["tenure"].isin([-1, 999])]
    age = frame["age"][~frame["age"].isin([3, 150])]
    assert tenure.between(0, 120).all()
    assert age.between(18, 90).all()
    assert frame["num_products"].between(1, 6).all()
    assert frame["support_calls"].between(0, 15).all()
    assert frame["monthly_charges"].dropna().between(15, 125).all()
    assert (frame["total_charges"].dropna() >= 0).all()
    assert set(frame["churned"]) == {0, 1}


def test_total_charges_follow_tenure_times_monthly(frame: pd.DataFrame) -> None:
    clean = frame.dropna(subset=["monthly_charges", "total_charges"])
    clean = clean[clean["tenure"].between(0, 120)]
    expected = clean["tenure"] * clean["monthly_charges"]
    assert np.corrcoef(expected, clean["total_charges"])[0, 1] > 0.98


@pytest.mark.parametrize(
    ("column", "low", "high"),
    [
        ("monthly_charges", 0.015, 0.025),
        ("total_charges", 0.007, 0.013),
        ("payment_method", 0.007, 0.013),
    ],
)
def test_null_rates(table: pa.Table, column: str, low: float, high: float) -> None:
    assert low <= table.column(column).null_count / table.num_rows <= high


def test_only_planted_columns_have_nulls(table: pa.Table) -> None:
    with_nulls = {name for name in COLUMNS if table.column(name).null_count > 0}
    assert with_nulls == {"monthly_charges", "total_charges", "payment_method"}


@pytest.mark.parametrize(
    ("column", "value"), [("tenure", -1), ("tenure", 999), ("age", 150), ("age", 3)]
)
def test_planted_out_of_range_values(frame: pd.DataFrame, column: str, value: int) -> None:
    count = int((frame[column] == value).sum())
    assert 5 <= count <= 0.002 * N


# --- the label -----------------------------------------------------------------------------


def test_churn_rate(frame: pd.DataFrame) -> None:
    assert 0.15 <= frame["churned"].mean() <= 0.35


def test_signal_directions(frame: pd.DataFrame) -> None:
    def rate(mask: pd.Series) -> float:
        return float(frame.loc[mask, "churned"].mean())

    assert rate(frame["contract"] == "month-to-month") > rate(frame["contract"] == "two-year")
    assert rate(frame["payment_method"] == "electronic") > rate(frame["payment_method"] == "card")
    assert rate(frame["internet_service"] == "fiber") > rate(frame["internet_service"] == "none")
    assert rate(frame["support_calls"] >= 4) > rate(frame["support_calls"] <= 1)
    assert rate(frame["tenure"].between(0, 6)) > rate(frame["tenure"].between(60, 120))


def test_well_specified_model_auc_is_calibrated(frame: pd.DataFrame) -> None:
    train, test = _split(_clean(frame))
    auc = _test_auc(_well_specified(), train, test, "churned")
    assert 0.80 <= auc <= 0.90, auc


def test_age_only_model_is_weak(frame: pd.DataFrame) -> None:
    train, test = _split(_clean(frame)[["customer_id", "age", "churned"]])
    model = make_pipeline(StandardScaler(), LogisticRegression())
    auc = _test_auc(model, train, test, "churned")
    assert auc < 0.65, auc


def test_shuffled_label_model_is_chance(frame: pd.DataFrame) -> None:
    shuffled = _clean(frame)
    shuffled["shuffled"] = np.random.default_rng(1).permutation(shuffled["churned"].to_numpy())
    train, test = _split(shuffled)
    auc = _test_auc(_well_specified(), train, test, "shuffled")
    assert 0.40 <= auc <= 0.60, auc
