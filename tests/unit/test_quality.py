"""The native (Arrow) data gate on small hand-made tables; Great Expectations is not imported."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakestacks.quality import (
    NATIVE,
    VALIDATIONS_SCHEMA,
    CheckResult,
    ValidationReport,
    report_rows,
    validate,
)
from lakestacks.quality._arrow import ArrowEvaluator
from lakestacks.spec.data import Suite

NAN = float("nan")


@pytest.fixture
def people() -> pa.Table:
    return pa.table(
        {
            "id": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
            "age": pa.array([25, 17, None, 40, 130, 33], pa.int64()),
            "score": pa.array([0.5, NAN, 0.9, None, 0.1, 0.7], pa.float64()),
            "plan": pa.array(["basic", "pro", None, "basic", "gold", "pro"]),
            "code": pa.array(["AB-12", "CD-34", "x", None, "EF-56", "GH-7"]),
        }
    )


def run(data: pa.Table, *checks: dict[str, Any], **suite: Any) -> ValidationReport:
    return validate("people", data, Suite(checks=list(checks), **suite))


def check(data: pa.Table, expect: str, **kwargs: Any) -> CheckResult:
    """One check's result; it must have run natively."""
    result = run(data, {"expect": expect, **kwargs}).results[0]
    assert result.engine == "arrow"
    return result


# -- row-level checks ------------------------------------------------------------------------


def test_not_null_counts_nan_as_null_and_percent_is_of_all_rows(people: pa.Table) -> None:
    r = check(people, "column_values_to_not_be_null", column="score")
    assert (r.success, r.unexpected_count, r.element_count) == (False, 2, 6)
    assert r.unexpected_percent == pytest.approx(2 / 6 * 100)
    assert [row["id"] for row in r.sample] == [2, 4]
    assert check(people, "column_values_to_not_be_null", column="id").success


def test_not_null_mostly_compares_the_expected_share(people: pa.Table) -> None:
    assert check(people, "column_values_to_not_be_null", column="score", mostly=0.6).success
    assert not check(people, "column_values_to_not_be_null", column="score", mostly=0.7).success


def test_to_be_null(people: pa.Table) -> None:
    r = check(people, "column_values_to_be_null", column="score")
    assert (r.success, r.unexpected_count) == (False, 4)
    empty = pa.table({"x": pa.array([None, NAN], pa.float64())})
    assert check(empty, "column_values_to_be_null", column="x").success


def test_between_ignores_nulls_and_percent_is_of_non_null(people: pa.Table) -> None:
    r = check(people, "column_values_to_be_between", column="age", min_value=18, max_value=100)
    assert (r.success, r.unexpected_count) == (False, 2)
    assert r.unexpected_percent == pytest.approx(2 / 5 * 100)
    assert r.observed["missing_count"] == 1
    assert sorted(r.observed["partial_unexpected_list"]) == [17, 130]
    assert {row["id"] for row in r.sample} == {2, 5}


@pytest.mark.parametrize(
    ("kwargs", "unexpected"),
    [
        ({"min_value": 17}, 0),
        ({"min_value": 17, "strict_min": True}, 1),
        ({"max_value": 130}, 0),
        ({"max_value": 130, "strict_max": True}, 1),
        ({"min_value": 25, "max_value": 40, "strict_min": True, "strict_max": True}, 4),
        ({"min_value": 0.5, "max_value": 99.5}, 1),
    ],
)
def test_between_bounds(people: pa.Table, kwargs: dict[str, Any], unexpected: int) -> None:
    r = check(people, "column_values_to_be_between", column="age", **kwargs)
    assert r.unexpected_count == unexpected
    assert r.success is (unexpected == 0)


def test_between_mostly(people: pa.Table) -> None:
    kwargs = {"column": "age", "min_value": 18, "max_value": 100}
    assert check(people, "column_values_to_be_between", mostly=0.6, **kwargs).success
    assert not check(people, "column_values_to_be_between", mostly=0.61, **kwargs).success


def test_between_without_bounds_fails_with_why(people: pa.Table) -> None:
    r = check(people, "column_values_to_be_between", column="age")
    assert not r.success
    assert "cannot both be None" in r.observed["error"]


def test_in_set_and_not_in_set(people: pa.Table) -> None:
    r = check(people, "column_values_to_be_in_set", column="plan", value_set=["basic", "pro"])
    assert (r.success, r.unexpected_count, r.observed["partial_unexpected_list"]) == (
        False,
        1,
        ["gold"],
    )
    r = check(people, "column_values_to_not_be_in_set", column="plan", value_set=["gold", 3])
    assert (r.success, r.unexpected_count) == (False, 1)
    assert check(
        people, "column_values_to_be_in_set", column="plan", value_set=["basic", "pro"], mostly=0.8
    ).success


def test_in_set_uses_python_equality_for_numbers() -> None:
    data = pa.table({"n": pa.array([1, 2, 3], pa.int64()), "f": pa.array([1.0, 2.5, None])})
    assert check(
        data, "column_values_to_be_in_set", column="n", value_set=[1.0, 2, True, 3]
    ).success
    r = check(data, "column_values_to_be_in_set", column="f", value_set=[1, "2.5"])
    assert r.unexpected_count == 1
    big = check(data, "column_values_to_be_in_set", column="n", value_set=[2**70, 1])
    assert big.unexpected_count == 2


def test_dictionary_columns_are_compared_by_value() -> None:
    data = pa.table({"d": pa.array(["a", "b", None, "a"]).dictionary_encode()})
    assert (
        check(data, "column_values_to_be_in_set", column="d", value_set=["a"]).unexpected_count == 1
    )
    assert check(data, "column_values_to_be_unique", column="d").unexpected_count == 2


def test_any_column_type_can_be_checked_for_nulls() -> None:
    data = pa.table({"b": [True, None, False], "t": pa.array([dt.date(2024, 1, 1), None, None])})
    assert check(data, "column_values_to_not_be_null", column="b").unexpected_count == 1
    assert check(data, "column_values_to_be_null", column="t").unexpected_count == 1


@pytest.mark.parametrize(
    "values",
    [
        pa.array([3, 1, 3, None, 2, None, 3], pa.int64()),  # dense: counting
        pa.array([3, 10**12, 3, None, -(10**12), None, 3], pa.int64()),  # spread: sorting
        pa.array([3.0, 1.5, 3.0, None, 2.0, NAN, 3.0]),
        pa.array(["c", "a", "c", None, "b", None, "c"]),
        pa.array([3, 1, 3, None, 2, None, 3], pa.int8()),
    ],
)
def test_unique_marks_every_occurrence_and_ignores_nulls(values: pa.Array) -> None:
    data = pa.table({"v": values, "row": list(range(len(values)))})
    r = check(data, "column_values_to_be_unique", column="v")
    assert (r.success, r.unexpected_count) == (False, 3)
    assert r.unexpected_percent == pytest.approx(3 / 5 * 100)
    assert [row["row"] for row in r.sample] == [0, 2, 6]


def test_negative_zero_is_zero_as_for_pandas() -> None:
    data = pa.table({"f": [0.0, -0.0, 1.0]})
    assert check(data, "column_values_to_be_unique", column="f").unexpected_count == 2
    assert check(data, "column_values_to_be_in_set", column="f", value_set=[-0.0, 1]).success
    assert check(data, "column_unique_value_count_to_be_between", column="f").observed == 2


@pytest.mark.parametrize(
    "values", [list(range(10)), list(range(10, 0, -1)), [5, -(10**15), 10**15, 7, 1]]
)
def test_unique_passes_on_distinct_ints(values: list[int]) -> None:
    data = pa.table({"v": pa.array(values, pa.int64())})
    assert check(data, "column_values_to_be_unique", column="v").unexpected_count == 0


def test_unique_on_many_rows_runs_the_checks_in_parallel() -> None:
    n = 300_000
    ids = np.arange(n)
    ids[-1] = 7  # one duplicate pair
    data = pa.table({"id": ids, "x": np.ones(n)})
    report = run(
        data,
        {"expect": "column_values_to_be_unique", "column": "id"},
        {"expect": "column_values_to_be_between", "column": "x", "min_value": 0, "max_value": 2},
    )
    assert [r.unexpected_count for r in report.results] == [2, 0]
    assert report.failing is not None
    assert pc.sum(report.failing).as_py() == 2


@pytest.mark.parametrize(
    ("ignore_row_if", "unexpected", "considered"),
    [
        (None, 4, 6),  # default all_values_are_missing: the (None, None) row is left out
        ("all_values_are_missing", 4, 6),
        ("any_value_is_missing", 2, 4),
        ("never", 4, 7),
    ],
)
def test_compound_columns_to_be_unique(
    ignore_row_if: str | None, unexpected: int, considered: int
) -> None:
    # Rows 0, 1 repeat (1, x); rows 3, 4 repeat (None, z): a missing value equals another.
    data = pa.table(
        {
            "a": pa.array([1, 1, 2, None, None, 3, None], pa.int64()),
            "b": pa.array(["x", "x", "y", "z", "z", "w", None]),
        }
    )
    kwargs: dict[str, Any] = {"column_list": ["a", "b"]}
    if ignore_row_if:
        kwargs["ignore_row_if"] = ignore_row_if
    r = check(data, "compound_columns_to_be_unique", **kwargs)
    assert (r.success, r.unexpected_count) == (False, unexpected)
    assert r.unexpected_percent == pytest.approx(unexpected / considered * 100)
    assert r.observed["missing_count"] == 7 - considered
    assert r.observed["partial_unexpected_list"][0] == {"a": 1, "b": "x"}


def test_compound_unique_when_a_left_out_row_has_the_last_key() -> None:
    data = pa.table({"a": pa.array([1, 1, None], pa.int64()), "b": ["x", "x", None]})
    r = check(data, "compound_columns_to_be_unique", column_list=["a", "b"])
    assert (r.unexpected_count, r.observed["missing_count"]) == (2, 1)


def test_regex_searches_and_ignores_nulls(people: pa.Table) -> None:
    r = check(people, "column_values_to_match_regex", column="code", regex=r"^[A-Z]{2}-\d{2}$")
    assert (r.success, r.unexpected_count) == (False, 2)
    assert sorted(r.observed["partial_unexpected_list"]) == ["GH-7", "x"]
    r = check(people, "column_values_to_not_match_regex", column="code", regex="[0-9]")
    assert r.unexpected_count == 4


@pytest.mark.parametrize(
    ("regex", "matched"),
    [
        (r"\d$", ["a1\n", "b٣", "c1"]),  # Python: $ before a final newline, Unicode digits
        (r"^[a-c](?=1)", ["a1\n", "c1"]),  # lookahead: RE2 has none
        (r"\s", ["a1\n"]),
        (r"(?i)B", ["b٣"]),
    ],
)
def test_regex_follows_python_re(regex: str, matched: list[str]) -> None:
    data = pa.table({"s": ["a1\n", "b٣", "c1", "dd"]})
    r = check(data, "column_values_to_match_regex", column="s", regex=regex)
    assert r.unexpected_count == 4 - len(matched)


def test_invalid_regex_fails_with_why(people: pa.Table) -> None:
    r = check(people, "column_values_to_match_regex", column="code", regex="(")
    assert not r.success
    assert "invalid regex" in r.observed["error"]


def test_value_lengths(people: pa.Table) -> None:
    r = check(people, "column_value_lengths_to_be_between", column="code", min_value=4)
    assert r.unexpected_count == 1
    r = check(
        people, "column_value_lengths_to_be_between", column="plan", max_value=4, strict_max=True
    )
    assert r.unexpected_count == 3  # "basic" twice and "gold"
    data = pa.table({"s": ["äöü", "ab", None]})  # lengths in characters, not bytes
    assert check(data, "column_value_lengths_to_be_between", column="s", max_value=3).success


# -- aggregate checks ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "value"),
    [
        ("column_min_to_be_between", 17),
        ("column_max_to_be_between", 130),
        ("column_mean_to_be_between", np.mean([25, 17, 40, 130, 33])),
        ("column_median_to_be_between", 33),
        ("column_sum_to_be_between", 245),
        ("column_stdev_to_be_between", np.std([25, 17, 40, 130, 33], ddof=1)),
    ],
)
def test_statistics(people: pa.Table, expect: str, value: float) -> None:
    r = check(people, expect, column="age", min_value=value - 0.001, max_value=value + 0.001)
    assert r.success
    assert r.observed == pytest.approx(value, rel=1e-12)
    assert (r.unexpected_count, r.unexpected_percent, r.sample) == (None, None, [])
    assert not check(people, expect, column="age", max_value=value, strict_max=True).success
    assert not check(people, expect, column="age", min_value=value, strict_min=True).success


def test_statistics_of_an_all_null_column() -> None:
    data = pa.table({"x": pa.array([None, NAN, None], pa.float64())})
    mean = check(data, "column_mean_to_be_between", column="x", min_value=0)
    assert (mean.success, mean.observed) == (False, None)
    assert check(data, "column_sum_to_be_between", column="x", max_value=0).observed == 0


def test_median_is_exact() -> None:
    data = pa.table({"x": pa.array([1, 2, 3, 100, None], pa.int64())})
    assert check(data, "column_median_to_be_between", column="x", min_value=0).observed == 2.5


def test_distinct_value_sets(people: pa.Table) -> None:
    r = check(people, "column_distinct_values_to_be_in_set", column="plan", value_set=["basic"])
    assert not r.success
    assert r.observed == {"unexpected_count": 2, "partial_unexpected_list": ["gold", "pro"]}
    r = check(
        people, "column_distinct_values_to_contain_set", column="plan", value_set=["pro", "free"]
    )
    assert (r.success, r.observed["partial_missing_list"]) == (False, ["free"])
    r = check(
        people,
        "column_distinct_values_to_equal_set",
        column="plan",
        value_set=["basic", "pro", "gold"],
    )
    assert r.success
    r = check(people, "column_distinct_values_to_equal_set", column="age", value_set=[17.0, 25])
    assert (r.observed["unexpected_count"], r.observed["missing_count"]) == (3, 0)
    empty = check(people, "column_distinct_values_to_be_in_set", column="plan", value_set=[])
    assert "non-empty" in empty.observed["error"]


def test_counts_and_proportions(people: pa.Table) -> None:
    r = check(people, "column_unique_value_count_to_be_between", column="plan", min_value=3)
    assert (r.success, r.observed) == (True, 3)
    r = check(people, "column_proportion_of_unique_values_to_be_between", column="plan")
    assert r.observed == pytest.approx(3 / 5)
    r = check(
        people, "column_proportion_of_non_null_values_to_be_between", column="score", min_value=0.7
    )
    assert (r.success, r.observed) == (False, pytest.approx(4 / 6))


# -- table checks ----------------------------------------------------------------------------


def test_table_checks(people: pa.Table) -> None:
    columns = people.column_names
    assert check(people, "table_row_count_to_be_between", min_value=6, max_value=6).success
    assert not check(people, "table_row_count_to_be_between", max_value=5).success
    assert check(people, "table_row_count_to_equal", value=6).observed == 6
    assert not check(people, "table_column_count_to_equal", value=4).success
    assert check(people, "table_columns_to_match_set", column_set=columns[::-1]).success
    assert not check(people, "table_columns_to_match_set", column_set=columns[:3]).success
    assert check(
        people, "table_columns_to_match_set", column_set=columns[:3], exact_match=False
    ).success
    assert not check(
        people, "table_columns_to_match_set", column_set=["id", "nope"], exact_match=False
    ).success
    assert check(people, "table_columns_to_match_ordered_list", column_list=columns).success
    assert not check(
        people, "table_columns_to_match_ordered_list", column_list=columns[::-1]
    ).success
    assert check(people, "column_to_exist", column="plan").success
    assert check(people, "column_to_exist", column="plan", column_index=3).success
    assert not check(people, "column_to_exist", column="plan", column_index=2).success
    assert not check(people, "column_to_exist", column="nope").success


# -- the report --------------------------------------------------------------------------------


def test_missing_column_fails_and_says_so(people: pa.Table) -> None:
    report = run(
        people,
        {"expect": "column_values_to_not_be_null", "column": "nope"},
        {"expect": "compound_columns_to_be_unique", "column_list": ["id", "gone"]},
    )
    assert not report.success
    for result in report.results:
        assert not result.success
        assert "missing column" in result.observed["error"]
    assert report.failing is None
    assert "missing column 'nope'" in report.summary()


def test_mode_off_runs_nothing(people: pa.Table) -> None:
    report = run(people, {"expect": "column_values_to_not_be_null", "column": "score"}, mode="off")
    assert (report.success, report.results, report.failing, report.mode) == (True, [], None, "off")


def test_report_fields_and_failing_mask(people: pa.Table) -> None:
    report = run(
        people,
        {"expect": "column_values_to_be_between", "column": "age", "min_value": 18},
        {"expect": "column_values_to_be_in_set", "column": "plan", "value_set": ["basic", "pro"]},
        {"expect": "column_values_to_not_be_null", "column": "score", "mostly": 0.5},  # passes
        {"expect": "column_mean_to_be_between", "column": "age", "max_value": 10},  # aggregate
        mode="dry_run",
    )
    assert (report.table, report.mode, report.rows, report.success) == (
        "people",
        "dry_run",
        6,
        False,
    )
    assert [r.success for r in report.results] == [False, False, True, False]
    assert report.failing is not None
    assert report.failing.to_pylist() == [False, True, False, False, True, False]
    assert len(report.run_id) == 32
    assert report.started.tzinfo is not None
    assert report.seconds >= 0
    assert not run(people, {"expect": "column_mean_to_be_between", "column": "age"}).failing


def test_sample_holds_at_most_five_whole_rows() -> None:
    data = pa.table({"x": list(range(10)), "y": [str(i) for i in range(10)]})
    r = check(data, "column_values_to_be_between", column="x", min_value=100)
    assert r.unexpected_count == 10
    assert r.sample == [{"x": i, "y": str(i)} for i in range(5)]
    assert len(r.observed["partial_unexpected_list"]) == 10


def test_report_rows(people: pa.Table) -> None:
    report = run(
        people,
        {"expect": "column_values_to_be_between", "column": "age", "min_value": 18},
        {"expect": "column_mean_to_be_between", "column": "age", "max_value": 100},
        {"expect": "table_row_count_to_equal", "value": 6},
    )
    rows = report_rows(report, table_version=4)
    assert rows.schema == VALIDATIONS_SCHEMA
    assert rows.schema.names == [
        "run_id", "table", "table_version", "mode", "started", "expectation", "column",
        "kwargs", "success", "observed", "element_count", "unexpected_count",
        "unexpected_percent", "engine",
    ]  # fmt: skip
    assert rows.schema.field("started").type == pa.timestamp("us", tz="UTC")
    first, mean, count = rows.to_pylist()
    assert first["run_id"] == report.run_id
    assert (first["table"], first["table_version"], first["mode"]) == ("people", 4, "enforce")
    assert first["expectation"] == "column_values_to_be_between"
    assert (first["column"], first["success"], first["engine"]) == ("age", False, "arrow")
    assert json.loads(first["kwargs"]) == {"column": "age", "min_value": 18}
    assert json.loads(first["observed"])["unexpected_count"] == 1
    assert (first["element_count"], first["unexpected_count"]) == (6, 1)
    assert first["unexpected_percent"] == pytest.approx(20.0)
    assert first["started"] == report.started
    assert json.loads(mean["observed"]) == pytest.approx(49.0)
    assert (mean["unexpected_count"], mean["unexpected_percent"]) == (None, None)
    assert (count["column"], json.loads(count["observed"])) == (None, 6)
    assert report_rows(report, None).column("table_version").null_count == 3


def test_report_rows_of_nothing() -> None:
    report = run(
        pa.table({"x": [1]}), {"expect": "table_row_count_to_equal", "value": 1}, mode="off"
    )
    assert report_rows(report, None).num_rows == 0


def test_summary_names_failures_observed_values_and_bad_rows(people: pa.Table) -> None:
    report = run(
        people,
        {
            "expect": "column_values_to_be_between",
            "column": "age",
            "min_value": 18,
            "max_value": 99,
        },
        {"expect": "column_mean_to_be_between", "column": "age", "max_value": 10},
        {"expect": "column_values_to_not_be_null", "column": "id"},
    )
    text = report.summary()
    assert "2 of 3 checks failed" in text
    assert "column_values_to_be_between on age" in text
    assert "2 unexpected rows" in text
    assert "130" in text
    assert "'id': 2" in text  # a whole bad row
    assert "column_mean_to_be_between on age" in text and "observed 49.0" in text
    assert "Traceback" not in text
    assert len(text.splitlines()) < 12
    assert report.summary(max_failures=1).endswith("... and 1 more failed checks")
    ok = run(people, {"expect": "column_values_to_not_be_null", "column": "id"})
    assert "all 1 checks passed" in ok.summary()


# -- what the native path leaves to Great Expectations ---------------------------------------


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("column_values_to_be_increasing", {"column": "n"}),
        ("column_value_z_scores_to_be_less_than", {"column": "n", "threshold": 3}),
        ("column_values_to_be_between", {"column": "t", "min_value": "2024-01-01"}),
        ("column_values_to_be_between", {"column": "s", "min_value": "a"}),  # GX refuses it
        ("column_max_to_be_between", {"column": "s", "max_value": "b"}),
        ("column_mean_to_be_between", {"column": "n", "min_value": "1"}),
        ("column_values_to_be_between", {"column": "n", "min_value": 0, "row_condition": "n>1"}),
        ("column_values_to_be_in_set", {"column": "t", "value_set": ["2024-01-01"]}),
        ("column_values_to_match_regex", {"column": "n", "regex": "1"}),
        ("column_mean_to_be_between", {"column": "n", "min_value": {"$PARAMETER": "x"}}),
    ],
)  # fmt: skip
def test_native_path_defers_what_it_would_only_approximate(
    name: str, kwargs: dict[str, Any]
) -> None:
    data = pa.table(
        {"n": [1, 2, 3], "s": ["a", "b", "c"], "t": pa.array([dt.datetime(2024, 1, 1)] * 3)}
    )
    assert ArrowEvaluator(data).evaluate(name, kwargs) is None


def test_native_set_covers_the_common_expectations() -> None:
    assert len(NATIVE) == 28
    assert {"column_values_to_not_be_null", "column_values_to_be_unique"} <= NATIVE


def test_native_suites_never_import_great_expectations() -> None:
    code = """
import sys
import pyarrow as pa
from lakestacks.quality import validate
from lakestacks.spec.data import Suite
data = pa.table({"id": [1, 2, None]})
checks = [{"expect": "column_values_to_be_unique", "column": "id"},
          {"expect": "column_values_to_not_be_null", "column": "nope"}]
validate("t", data, Suite(checks=checks))
off = Suite(mode="off", checks=[{"expect": "column_values_to_be_increasing", "column": "id"}])
validate("t", data, off)
assert "great_expectations" not in sys.modules, "imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_percent_is_none_without_rows() -> None:
    data = pa.table({"x": pa.array([], pa.int64())})
    r = check(data, "column_values_to_be_between", column="x", min_value=0)
    assert (r.success, r.unexpected_count, r.unexpected_percent) == (True, 0, None)


def test_pages_are_drawn_in_line_when_gx_is_already_here(
    people: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A suite needed GX, so it is imported: the page costs no import here and no worker starts.
    from lakestacks.quality import docs

    monkeypatch.setattr(docs, "_renderer", docs._Renderer())  # no worker from another test
    monkeypatch.setitem(sys.modules, "great_expectations", types.ModuleType("gx stand-in"))

    def no_fork() -> int:
        raise AssertionError("os.fork() called")

    def draw(reports: list[ValidationReport], directory: str | Path) -> list[Path]:
        [report] = reports
        if report.table == "bad":
            raise OSError("disk full")
        path = docs.page_path(report, directory)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<html></html>")
        return [path]

    monkeypatch.setattr(os, "fork", no_fork)
    monkeypatch.setattr(docs, "_write_pages", draw)
    suite = Suite(checks=[{"expect": "column_values_to_be_unique", "column": "id"}])
    assert docs.prepare_data_docs() is False
    [page] = docs.start_data_docs([validate("good", people, suite)], tmp_path)
    assert page.read_text() == "<html></html>"  # drawn before start_data_docs returned
    [lost] = docs.start_data_docs([validate("bad", people, suite)], tmp_path)  # no raise
    [problem] = docs.wait_for_data_docs(timeout=1)
    assert problem == f"data docs not written ({lost}): OSError: disk full"
    assert docs._renderer.worker is None and docs.wait_for_data_docs(timeout=1) == []
