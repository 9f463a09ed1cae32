"""The Great Expectations 1.x expectations a stack may name, with their arguments.

Validation is static (no ``great_expectations`` import: it costs ~4 s), so the names and
arguments live here; ``tests/unit/test_expectation_table.py`` keeps this table in step with
the installed Great Expectations. A stack names an expectation without its ``expect_``
prefix (``column_values_to_not_be_null``); the prefixed form is accepted too.
"""

from __future__ import annotations

__all__ = ["EXPECTATIONS", "canonical_name", "class_name"]

# name -> (required arguments, optional arguments)
EXPECTATIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "column_distinct_values_to_be_in_set": (("column", "value_set"), ()),
    "column_distinct_values_to_contain_set": (("column", "value_set"), ()),
    "column_distinct_values_to_equal_set": (("column", "value_set"), ()),
    "column_max_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_mean_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_median_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_min_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_most_common_value_to_be_in_set": (("column", "value_set"), ("ties_okay",)),
    "column_pair_values_a_to_be_greater_than_b": (
        ("column_A", "column_B"),
        ("mostly", "or_equal", "ignore_row_if"),
    ),
    "column_pair_values_to_be_equal": (("column_A", "column_B"), ("mostly", "ignore_row_if")),
    "column_pair_values_to_be_in_set": (
        ("column_A", "column_B", "value_pairs_set"),
        ("mostly", "ignore_row_if"),
    ),
    "column_proportion_of_non_null_values_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_proportion_of_unique_values_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_quantile_values_to_be_between": (
        ("column", "quantile_ranges"),
        ("allow_relative_error",),
    ),
    "column_stdev_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_sum_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_to_exist": (("column",), ("column_index",)),
    "column_type_to_be": (("column", "type_"), ()),
    "column_unique_value_count_to_be_between": (
        ("column",),
        ("min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_value_lengths_to_be_between": (
        ("column",),
        ("mostly", "min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_value_lengths_to_equal": (("column", "value"), ("mostly",)),
    "column_value_z_scores_to_be_less_than": (("column", "threshold", "double_sided"), ("mostly",)),
    "column_values_to_be_between": (
        ("column",),
        ("mostly", "min_value", "max_value", "strict_min", "strict_max"),
    ),
    "column_values_to_be_dateutil_parseable": (("column",), ("mostly",)),
    "column_values_to_be_decreasing": (("column",), ("mostly", "strictly")),
    "column_values_to_be_in_set": (("column", "value_set"), ("mostly",)),
    "column_values_to_be_in_type_list": (("column",), ("mostly", "type_list")),
    "column_values_to_be_increasing": (("column",), ("mostly", "strictly")),
    "column_values_to_be_json_parseable": (("column",), ("mostly",)),
    "column_values_to_be_null": (("column",), ("mostly",)),
    "column_values_to_be_of_type": (("column", "type_"), ("mostly",)),
    "column_values_to_be_unique": (("column",), ("mostly",)),
    "column_values_to_match_json_schema": (("column", "json_schema"), ("mostly",)),
    "column_values_to_match_like_pattern": (("column", "like_pattern"), ("mostly", "escape")),
    "column_values_to_match_like_pattern_list": (
        ("column", "like_pattern_list"),
        ("mostly", "match_on", "escape"),
    ),
    "column_values_to_match_regex": (("column",), ("mostly", "regex")),
    "column_values_to_match_regex_list": (("column", "regex_list"), ("mostly", "match_on")),
    "column_values_to_match_strftime_format": (("column", "strftime_format"), ("mostly",)),
    "column_values_to_not_be_in_set": (("column", "value_set"), ("mostly",)),
    "column_values_to_not_be_null": (("column",), ("mostly",)),
    "column_values_to_not_be_outliers": (("column",), ("mostly", "method", "multiplier")),
    "column_values_to_not_match_like_pattern": (("column", "like_pattern"), ("mostly", "escape")),
    "column_values_to_not_match_like_pattern_list": (
        ("column", "like_pattern_list"),
        ("mostly", "escape"),
    ),
    "column_values_to_not_match_regex": (("column", "regex"), ("mostly",)),
    "column_values_to_not_match_regex_list": (("column", "regex_list"), ("mostly",)),
    "compound_columns_to_be_unique": (("column_list",), ("mostly", "ignore_row_if")),
    "multicolumn_sum_to_equal": (("column_list", "sum_total"), ("mostly", "ignore_row_if")),
    "multicolumn_values_to_be_equal": (("column_list",), ("mostly", "ignore_row_if")),
    "multicolumn_values_to_be_unique": (("column", "column_list"), ("mostly", "ignore_row_if")),
    "select_column_values_to_be_unique_within_record": (
        ("column_list",),
        ("mostly", "ignore_row_if"),
    ),
    "table_column_count_to_be_between": ((), ("min_value", "max_value")),
    "table_column_count_to_equal": (("value",), ()),
    "table_columns_to_match_ordered_list": ((), ("column_list",)),
    "table_columns_to_match_set": ((), ("column_set", "exact_match")),
    "table_row_count_to_be_between": ((), ("min_value", "max_value", "strict_min", "strict_max")),
    "table_row_count_to_equal": (("value",), ()),
}


def canonical_name(name: str) -> str:
    """The table's key for a name written with or without the ``expect_`` prefix."""
    return name.removeprefix("expect_")


def class_name(name: str) -> str:
    """The Great Expectations class for a name: ``column_values_to_be_unique`` ->
    ``ExpectColumnValuesToBeUnique``."""
    return "Expect" + "".join(
        part[:1].upper() + part[1:] for part in canonical_name(name).split("_")
    )
