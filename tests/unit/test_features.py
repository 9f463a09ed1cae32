"""The feature encoder and target encoding: learned on train only, vectorised, JSON-able."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakestacks.errors import UserError
from lakestacks.training.features import (
    MAX_CATEGORIES,
    FeatureEncoder,
    encode_target,
    infer_task,
)
from lakestacks.training.tabular import MLPClassifier, MLPRegressor


def table() -> pa.Table:
    return pa.table(
        {
            "tenure": pa.array([1, 3, None, 100, 200], pa.int64()),
            "charges": pa.array([10.0, float("nan"), 30.0, 0.0, 0.0]),
            "contract": pa.array(["a", "b", "a", "c", None]),
            "split": ["train", "train", "train", "test", "test"],
        }
    )


def train_rows(t: pa.Table) -> pa.Table:
    return t.filter(pc.equal(t["split"], "train"))


def test_statistics_come_from_the_train_rows_only() -> None:
    full = table()
    encoder = FeatureEncoder.fit(train_rows(full), ["tenure", "contract"])
    tenure = encoder.columns[0]
    assert tenure.mean == pytest.approx(2.0)  # nulls ignored; 100 and 200 are test rows
    assert tenure.std == pytest.approx(1.0)
    assert tenure.mean != pytest.approx(np.nanmean([1, 3, 100, 200]))
    # 'c' appears only in the test rows, so it gets no output column.
    assert encoder.output_names == ["tenure", "contract=a", "contract=b"]
    assert encoder.n_outputs == 3


def test_transform_standardizes_imputes_and_zeroes_unseen_categories() -> None:
    full = table()
    encoder = FeatureEncoder.fit(train_rows(full), ["tenure", "charges", "contract"])
    x = encoder.transform(full)
    assert x.dtype == np.float32
    assert x.shape == (5, encoder.n_outputs)
    assert x[:, 0].tolist() == pytest.approx([-1.0, 1.0, 0.0, 98.0, 198.0])  # null -> mean -> 0
    assert x[1, 1] == 0.0  # NaN is missing too
    assert x[3, 2:].tolist() == [0.0, 0.0]  # unseen 'c'
    assert x[4, 2:].tolist() == [0.0, 0.0]  # null category
    assert x[0, 2:].tolist() == [1.0, 0.0]


def test_constant_and_all_null_columns_get_std_one() -> None:
    t = pa.table({"k": [5, 5, 5], "n": pa.array([None, None, None], pa.float64())})
    encoder = FeatureEncoder.fit(t, ["k", "n"])
    assert [c.std for c in encoder.columns] == [1.0, 1.0]
    assert encoder.transform(t).tolist() == [[0.0, 0.0]] * 3


def test_bool_decimal_large_string_and_dictionary_columns() -> None:
    t = pa.table(
        {
            "flag": [True, False, True, None],
            "price": pa.array([1, 2, 3, 4], pa.decimal128(5, 2)),
            "city": pa.array(["x", "y", "x", "y"], pa.large_string()),
            "plan": pa.array(["p", "q", None, "p"]).dictionary_encode(),
        }
    )
    encoder = FeatureEncoder.fit(t, t.column_names)
    assert encoder.output_names == ["flag", "price", "city=x", "city=y", "plan=p", "plan=q"]
    x = encoder.transform(t)
    assert x[:, 4:].tolist() == [[1, 0], [0, 1], [0, 0], [1, 0]]


def test_categories_are_capped_at_the_most_frequent() -> None:
    values = [f"c{i:03d}" for i in range(150) for _ in range(1 + (i < MAX_CATEGORIES))]
    encoder = FeatureEncoder.fit(pa.table({"c": values}), ["c"])
    assert encoder.n_outputs == MAX_CATEGORIES
    assert encoder.columns[0].categories[-1] == f"c{MAX_CATEGORIES - 1:03d}"
    x = encoder.transform(pa.table({"c": ["c149", "c000"]}))
    assert x.sum(axis=1).tolist() == [0.0, 1.0]


def test_pandas_input_matches_arrow_input() -> None:
    full = table()
    encoder = FeatureEncoder.fit(train_rows(full), ["tenure", "charges", "contract"])
    np.testing.assert_array_equal(encoder.transform(full.to_pandas()), encoder.transform(full))


def test_to_dict_from_dict_round_trips_through_json() -> None:
    encoder = FeatureEncoder.fit(table(), ["tenure", "charges", "contract"])
    again = FeatureEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    assert again == encoder
    np.testing.assert_array_equal(again.transform(table()), encoder.transform(table()))
    with pytest.raises(ValueError, match="format"):
        FeatureEncoder.from_dict({"format": 99, "columns": []})


def test_the_encoder_records_which_columns_had_missing_values_in_train() -> None:
    """Issue 16, item 4: only those are imputed by design (optional in the signature)."""
    encoder = FeatureEncoder.fit(train_rows(table()), ["tenure", "charges", "contract"])
    # tenure has a null and charges a NaN among the train rows; contract's null is a test row.
    assert encoder.optional == {"tenure", "charges"}
    assert encoder.required_columns == ["contract"]
    saved = json.loads(json.dumps(encoder.to_dict()))
    assert saved["optional"] == ["tenure", "charges"]
    assert FeatureEncoder.from_dict(saved) == encoder
    # An optional column left out is all missing (MLflow's loader drops it); a required one
    # left out is an error; an all-None column from pandas is missing too.
    full = encoder.transform(pa.table({"tenure": [None], "charges": [None], "contract": ["a"]}))
    assert encoder.transform(pa.table({"contract": ["a"]})).tolist() == full.tolist()
    nones = pa.table({"tenure": [None], "contract": ["a"]}).to_pandas()
    assert encoder.transform(nones).tolist() == full.tolist()
    with pytest.raises(UserError, match=r"no feature column.*contract"):
        encoder.transform(pa.table({"tenure": [1]}))


def test_an_encoder_saved_before_optional_was_recorded_imputes_every_column() -> None:
    encoder = FeatureEncoder.fit(train_rows(table()), ["tenure", "contract"])
    old = {k: v for k, v in encoder.to_dict().items() if k != "optional"}
    before = FeatureEncoder.from_dict(old)
    assert before.optional is None and before.required_columns == ["tenure", "contract"]
    assert "optional" not in before.to_dict()
    x = before.transform(pa.table({"tenure": [None], "contract": [None]}))
    assert x.tolist() == [[0.0, 0.0, 0.0]]  # imputed, as before
    with pytest.raises(UserError, match="no feature column"):
        before.transform(pa.table({"contract": ["a"]}))


@pytest.mark.parametrize(
    ("column", "kind"),
    [
        (pa.array([datetime(2024, 1, 1)], pa.timestamp("us")), "timestamp"),
        (pa.array([[1, 2]], pa.list_(pa.int64())), "list"),
        (pa.array([b"x"], pa.binary()), "binary"),
    ],
)
def test_unsupported_types_name_the_column_and_suggest_the_prep_function(
    column: pa.Array, kind: str
) -> None:
    with pytest.raises(UserError, match=rf"'when' has type {kind}.*prep function"):
        FeatureEncoder.fit(pa.table({"when": column}), ["when"])


def test_missing_and_retyped_columns_are_user_errors() -> None:
    # No missing value in train: both columns are required.
    encoder = FeatureEncoder.fit(
        pa.table({"tenure": [1, 3], "contract": ["a", "b"]}), ["tenure", "contract"]
    )
    with pytest.raises(UserError, match="tenure, contract"):
        encoder.transform(pa.table({"other": [1]}))
    with pytest.raises(UserError, match="tenure, contract"):
        encoder.transform(pa.table({"other": [1]}).to_pandas())
    with pytest.raises(UserError, match="'tenure' is string"):
        encoder.transform(pa.table({"tenure": ["1"], "contract": ["a"]}))
    with pytest.raises(UserError, match="no feature column"):
        FeatureEncoder.fit(table(), ["nope"])


def test_classification_target_accepts_bool_and_0_1() -> None:
    assert encode_target(pa.array([True, False]), "classification").tolist() == [1.0, 0.0]
    y = encode_target(pa.chunked_array([[0, 1], [1]], pa.int8()), "classification")
    assert y.dtype == np.float32
    assert y.flags.writeable
    assert y.tolist() == [0.0, 1.0, 1.0]


def test_target_errors_say_what_was_seen() -> None:
    with pytest.raises(UserError, match=r"0/1 or bool.*values 0, 1, 2"):
        encode_target(pa.array([0, 2, 1]), "classification")
    with pytest.raises(UserError, match=r"0/1 or bool.*string with values no, yes"):
        encode_target(pa.array(["yes", "no"]), "classification")
    with pytest.raises(UserError, match="2 null"):
        encode_target(pa.array([1, None, None]), "classification")
    with pytest.raises(UserError, match="must be numeric"):
        encode_target(pa.array(["1.5"]), "regression")
    assert encode_target(pa.array([1.5, 2]), "regression").tolist() == [1.5, 2.0]


def test_infer_task() -> None:
    assert infer_task(MLPClassifier, "auto") == "classification"
    assert infer_task(MLPRegressor, "auto") == "regression"
    assert infer_task(MLPClassifier, "regression") == "regression"
    assert infer_task(MLPRegressor(n_features=2), "classification") == "classification"
    with pytest.raises(ValueError, match="task"):
        infer_task(MLPRegressor, "ranking")


def test_a_regression_target_is_standardized_and_scaled_back() -> None:
    encoder = FeatureEncoder.fit(pa.table({"x": [1.0, 2.0]}), ["x"])
    y = np.array([300.0, 500.0, 700.0], dtype=np.float32)
    scaled = encoder.with_target(y)
    assert scaled.scale_target(y).tolist() == pytest.approx([-1.2247, 0.0, 1.2247], abs=1e-4)
    assert scaled.unscale_target(scaled.scale_target(y)).tolist() == pytest.approx(y.tolist())
    again = FeatureEncoder.from_dict(json.loads(json.dumps(scaled.to_dict())))
    assert again == scaled and again.target == pytest.approx((500.0, 163.299), abs=1e-3)
    assert encoder.scale_target(y) is y  # no target learned (classification): unchanged
