"""The static expectation table stays in step with the installed Great Expectations."""

from __future__ import annotations

import pytest

from lakestacks.spec.expectations import EXPECTATIONS, class_name

IGNORED = {
    "id", "meta", "notes", "result_format", "description", "catch_exceptions",
    "rendered_content", "batch_id", "windows", "severity", "row_condition", "condition_parser",
    "library_metadata",
}  # fmt: skip


@pytest.fixture(scope="module")
def gx_expectations() -> object:
    gx = pytest.importorskip("great_expectations")
    return gx.expectations


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_expectation_exists_with_these_arguments(name: str, gx_expectations: object) -> None:
    cls = getattr(gx_expectations, class_name(name))
    fields = {k: f for k, f in cls.__fields__.items() if k not in IGNORED}
    required, optional = EXPECTATIONS[name]
    assert set(required) == {k for k, f in fields.items() if f.required}
    assert set(optional) <= set(fields)


def test_table_covers_the_common_expectations(gx_expectations: object) -> None:
    known = {class_name(n) for n in EXPECTATIONS}
    shipped = {n for n in dir(gx_expectations) if n.startswith("Expect") and n != "Expectation"}
    # Left out on purpose: SQL queries, other tables, a partition object, the base class.
    left_out = {
        "ExpectQueryResultsToMatchComparison", "ExpectTableRowCountToEqualOtherTable",
        "ExpectColumnKLDivergenceToBeLessThan",
    }  # fmt: skip
    assert shipped - known - left_out == set()
