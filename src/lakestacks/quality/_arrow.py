"""The native evaluator: common expectations computed with vectorised ``pyarrow.compute``.

It follows Great Expectations' semantics on a pandas batch (the batch a GX pandas datasource
builds from the same Arrow table), which ``tests/integration/test_quality_gx.py`` checks
against GX itself:

- NaN in a float column is missing, as pandas' ``isnull`` says;
- column-map expectations ignore missing values, except ``(not_)null``; ``mostly`` compares the
  share of non-missing values that are expected, and ``unexpected_percent`` is over those;
- ``column_values_to_be_unique`` marks every occurrence of a duplicated value unexpected;
- ``column_stdev`` is the sample standard deviation (ddof=1), ``column_median`` the exact one.

:meth:`ArrowEvaluator.evaluate` returns ``None`` for what it does not cover exactly (another
expectation, a column type or argument it would only approximate, a ``row_condition``); the
caller hands those to Great Expectations.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # no stubs ship with pyarrow
import pyarrow.compute as pc

from lakestacks.spec.expectations import EXPECTATIONS

__all__ = ["NATIVE", "ArrowEvaluator", "Outcome", "rows_at"]

# How many unexpected values GX lists in ``partial_unexpected_list`` (its default) and how
# many distinct values it lists for the distinct-values expectations (MAX_DISTINCT_VALUES).
PARTIAL_COUNT = 20

# Arguments that change no result; anything else unknown (row_condition, suite parameters...)
# sends the check to Great Expectations.
_INERT = frozenset({"meta", "notes", "description", "catch_exceptions", "result_format", "id"})


class ArgumentError(ValueError):
    """A check's arguments that Great Expectations would refuse too."""


@dataclass(frozen=True)
class Outcome:
    """What the evaluator found for one check.

    ``mask`` is set only for a row-level check with unexpected rows: a boolean array over the
    table, True where the row is unexpected; ``first`` holds the positions of the first
    unexpected rows (up to ``PARTIAL_COUNT``).
    """

    success: bool
    observed: Any
    element_count: int
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    mask: Any = None
    first: list[int] | None = None


class ArrowEvaluator:
    """Evaluates checks on one Arrow table; columns are prepared once and shared by checks.

    The columns a check names must exist (the caller reports missing columns).
    """

    def __init__(self, data: pa.Table) -> None:
        self._data = data
        self._rows: int = data.num_rows
        self._columns: dict[str, Any] = {}
        self._null_counts: dict[str, int] = {}

    def evaluate(self, name: str, kwargs: dict[str, Any]) -> Outcome | None:
        """The outcome of one check, or None when Great Expectations must run it.

        Raises:
            ArgumentError: arguments GX refuses as well (e.g. no bound at all).
        """
        method = _DISPATCH.get(name)
        if method is None:
            return None
        required, optional = EXPECTATIONS[name]
        if set(kwargs) - set(required) - set(optional) - _INERT or not set(required) <= set(kwargs):
            return None
        return method(self, kwargs)

    # -- columns ------------------------------------------------------------------------

    def _col(self, name: str) -> Any:
        """The column as a ChunkedArray: decoded, NaN made null (pandas counts NaN missing)."""
        col = self._columns.get(name)
        if col is None:
            col = self._data.column(name)
            if pa.types.is_dictionary(col.type):  # e.g. read from Parquet: compare the values
                col = col.cast(col.type.value_type)
            if pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
                col = pc.if_else(pc.is_nan(col), pa.scalar(None, col.type), col)
            self._columns[name] = col
        return col

    def _hashed(self, name: str) -> Any:
        """The column for hashing kernels (is_in, unique, count_distinct): -0.0 made 0.0.

        pandas (so GX) counts them one value; Arrow's hashes tell them apart.
        """
        col = self._col(name)
        if pa.types.is_floating(col.type):
            key = "\0hashed:" + name
            hashed = self._columns.get(key)
            if hashed is None:
                hashed = self._columns[key] = pc.add(col, pa.scalar(0, col.type))
            return hashed
        return col

    def _nulls(self, name: str) -> int:
        count = self._null_counts.get(name)
        if count is None:
            count = self._null_counts[name] = int(self._col(name).null_count)
        return count

    # -- outcome builders -----------------------------------------------------------------

    def _map_outcome(
        self,
        name: str | list[str],
        unexpected: Any,
        considered: int,
        mostly: float,
        *,
        over_all_rows: bool = False,
    ) -> Outcome:
        """A column-map outcome from a boolean array (null = not unexpected).

        ``considered`` is the number of rows the check looked at (non-missing ones, or all rows
        for the (not_)null checks, where GX leaves missing_count out).
        """
        unexpected = None if unexpected is None else pc.fill_null(unexpected, False)
        count = 0 if unexpected is None else _true_count(unexpected)
        total = self._rows
        if total == 0 or considered == 0:
            success = True  # vacuously, as GX
        else:
            success = (float(considered) - float(count)) / float(considered) >= mostly
        percent = count / considered * 100 if total > 0 and considered > 0 else None
        first: list[int] = []
        partial: list[Any] = []
        if count:
            first = pc.indices_nonzero(unexpected).slice(0, PARTIAL_COUNT).to_pylist()
            rows = rows_at(self._data.select([name] if isinstance(name, str) else name), first)
            partial = [row[name] for row in rows] if isinstance(name, str) else rows
        observed: dict[str, Any] = {"unexpected_count": count, "unexpected_percent": percent}
        if not over_all_rows:
            observed["missing_count"] = total - considered
        observed["partial_unexpected_list"] = partial
        return Outcome(
            success=success,
            observed=observed,
            element_count=total,
            unexpected_count=count,
            unexpected_percent=percent,
            mask=unexpected if count else None,
            first=first,
        )

    def _column_map(self, a: dict[str, Any], unexpected: Any) -> Outcome:
        column = a["column"]
        if unexpected is not None and self._nulls(column):
            # Missing values are never unexpected here (some kernels say False, not null, there).
            unexpected = pc.and_(unexpected, pc.is_valid(self._col(column)))
        return self._map_outcome(
            column, unexpected, self._rows - self._nulls(column), _mostly(a.get("mostly"))
        )

    def _aggregate(self, value: Any, success: bool) -> Outcome:
        return Outcome(success=success, observed=value, element_count=self._rows)

    def _between(self, value: Any, a: dict[str, Any]) -> Outcome:
        """GX's ``_validate_metric_value_between``: a missing statistic fails."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return self._aggregate(None, False)
        return self._aggregate(value, _in_bounds(value, a))

    # -- row-level checks ------------------------------------------------------------------

    def _not_null(self, a: dict[str, Any]) -> Outcome | None:
        column = a["column"]
        mostly = _mostly(a.get("mostly"))
        unexpected = pc.is_null(self._col(column))
        return self._map_outcome(column, unexpected, self._rows, mostly, over_all_rows=True)

    def _null(self, a: dict[str, Any]) -> Outcome | None:
        column = a["column"]
        mostly = _mostly(a.get("mostly"))
        unexpected = pc.is_valid(self._col(column))
        return self._map_outcome(column, unexpected, self._rows, mostly, over_all_rows=True)

    def _values_between(self, a: dict[str, Any]) -> Outcome | None:
        col = self._col(a["column"])
        lo, hi = a.get("min_value"), a.get("max_value")
        if lo is None and hi is None:
            raise ArgumentError("min_value and max_value cannot both be None")
        if not _is_numeric(col.type) or not _bounds_ok(a):
            return None
        if lo is not None and hi is not None and lo > hi:
            raise ArgumentError("min_value cannot be greater than max_value")
        strict_min, strict_max = a.get("strict_min", False), a.get("strict_max", False)
        try:
            inside = _bounds_mask(col, lo, hi, strict_min, strict_max)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return self._column_map(a, pc.invert(inside))

    def _in_set(self, a: dict[str, Any], *, negate: bool = False) -> Outcome | None:
        col = self._hashed(a["column"])
        value_set = a["value_set"]
        if value_set is None:
            raise ArgumentError("value_set must be a list of values")
        if not isinstance(value_set, list | tuple | set | frozenset):
            return None
        coerced = _coerce(value_set, col.type)
        if coerced is None:
            return None
        members, _ = coerced
        found = pc.is_in(_as_compared(col), value_set=members, skip_nulls=True)
        return self._column_map(a, found if negate else pc.invert(found))

    def _not_in_set(self, a: dict[str, Any]) -> Outcome | None:
        return self._in_set(a, negate=True)

    def _unique(self, a: dict[str, Any]) -> Outcome | None:
        col = self._hashed(a["column"])
        if not (_is_numeric(col.type) or _is_string(col.type)):
            return None
        return self._column_map(a, _duplicated(col))

    def _compound_unique(self, a: dict[str, Any]) -> Outcome | None:
        names = a["column_list"]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        if len(names) < 2:
            raise ArgumentError("column_list must contain at least two columns.")
        ignore = a.get("ignore_row_if", "all_values_are_missing")
        cols = [self._hashed(n) for n in names]
        if not all(_is_numeric(c.type) or _is_string(c.type) for c in cols):
            return None
        missing = [pc.is_null(c) for c in cols]
        if ignore == "all_values_are_missing":
            ignored = _fold(pc.and_, missing)
        elif ignore == "any_value_is_missing":
            ignored = _fold(pc.or_, missing)
        elif ignore == "never":
            ignored = None
        else:
            return None
        # One integer key per row: combined dictionary codes, nulls a value of their own (pandas'
        # duplicated() treats NaN as equal to NaN), re-densified before it could overflow.
        key = None
        cardinality = 1
        for col in cols:
            codes, size = _codes(col)
            if key is None:
                key, cardinality = codes, size
                continue
            if cardinality * size >= 2**62:
                key, cardinality = _codes(pa.array(key))
            key = key * size + codes
            cardinality *= size
        assert key is not None  # noqa: S101 (two columns at least)
        kept = None if ignored is None else np.logical_not(_numpy_bool(ignored))
        considered = self._rows if kept is None else int(kept.sum())
        size = int(key.max()) + 1 if len(key) else 0
        counts = np.bincount(key if kept is None else key[kept], minlength=size)
        dup = counts[key] > 1
        if kept is not None:
            dup &= kept
        return self._map_outcome(names, pa.array(dup), considered, _mostly(a.get("mostly")))

    def _regex(self, a: dict[str, Any], *, negate: bool = False) -> Outcome | None:
        col = self._col(a["column"])
        pattern = a.get("regex", "(?s).*")
        if not isinstance(pattern, str) or not _is_string(col.type):
            return None
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise ArgumentError(f"invalid regex {pattern!r}: {exc}") from exc
        found = _search(col, compiled)
        return self._column_map(a, found if negate else pc.invert(found))

    def _not_regex(self, a: dict[str, Any]) -> Outcome | None:
        return self._regex(a, negate=True)

    def _lengths_between(self, a: dict[str, Any]) -> Outcome | None:
        col = self._col(a["column"])
        lo, hi = a.get("min_value"), a.get("max_value")
        if lo is None and hi is None:
            raise ArgumentError("min_value and max_value cannot both be None")
        if not _is_string(col.type) or not _bounds_ok(a):
            return None
        strict_min, strict_max = a.get("strict_min", False), a.get("strict_max", False)
        inside = _bounds_mask(pc.utf8_length(col), lo, hi, strict_min, strict_max)
        return self._column_map(a, pc.invert(inside))

    # -- aggregate checks ------------------------------------------------------------------

    def _statistic(self, a: dict[str, Any], stat: Callable[[Any], Any]) -> Outcome | None:
        col = self._col(a["column"])
        if not _is_numeric(col.type) or not _bounds_ok(a):
            return None
        return self._between(stat(col), a)

    def _min(self, a: dict[str, Any]) -> Outcome | None:
        return self._statistic(a, lambda c: pc.min(c).as_py())

    def _max(self, a: dict[str, Any]) -> Outcome | None:
        return self._statistic(a, lambda c: pc.max(c).as_py())

    def _mean(self, a: dict[str, Any]) -> Outcome | None:
        return self._statistic(a, lambda c: pc.mean(c).as_py())

    def _median(self, a: dict[str, Any]) -> Outcome | None:
        # Exact, as pandas' median; Arrow's approximate_median is a t-digest estimate.
        return self._statistic(
            a, lambda c: pc.quantile(c, q=0.5, interpolation="linear")[0].as_py()
        )

    def _sum(self, a: dict[str, Any]) -> Outcome | None:
        # pandas sums an all-missing column to 0.
        return self._statistic(a, lambda c: pc.sum(c, min_count=0).as_py())

    def _stdev(self, a: dict[str, Any]) -> Outcome | None:
        return self._statistic(a, lambda c: pc.stddev(c, ddof=1).as_py())

    def _distinct(self, a: dict[str, Any], *, unexpected: bool, missing: bool) -> Outcome | None:
        col = self._hashed(a["column"])
        value_set = a["value_set"]
        if not isinstance(value_set, list | tuple | set | frozenset):
            return None
        try:
            expected = set(value_set)
        except TypeError:
            return None
        coerced = _coerce(expected, col.type)
        if coerced is None:
            return None
        members, strangers = coerced
        distinct = _as_compared(pc.unique(col).drop_null())
        observed: dict[str, Any] = {}
        success = True
        if unexpected:
            extra = distinct.filter(pc.invert(pc.is_in(distinct, value_set=members)))
            observed["unexpected_count"] = len(extra)
            observed["partial_unexpected_list"] = _sorted(extra.to_pylist())[:PARTIAL_COUNT]
            success = success and len(extra) == 0
        if missing:
            absent = members.filter(pc.invert(pc.is_in(members, value_set=distinct)))
            lost = absent.to_pylist() + strangers
            observed["missing_count"] = len(lost)
            observed["partial_missing_list"] = _sorted(lost)[:PARTIAL_COUNT]
            success = success and not lost
        return self._aggregate(observed, success)

    def _distinct_in_set(self, a: dict[str, Any]) -> Outcome | None:
        if not a["value_set"]:
            raise ArgumentError("value_set must be a non-empty set-like object.")
        return self._distinct(a, unexpected=True, missing=False)

    def _distinct_contain_set(self, a: dict[str, Any]) -> Outcome | None:
        return self._distinct(a, unexpected=False, missing=True)

    def _distinct_equal_set(self, a: dict[str, Any]) -> Outcome | None:
        return self._distinct(a, unexpected=True, missing=True)

    def _unique_count(self, a: dict[str, Any]) -> Outcome | None:
        if not _bounds_ok(a):
            return None
        col = self._hashed(a["column"])
        return self._between(pc.count_distinct(col, mode="only_valid").as_py(), a)

    def _unique_proportion(self, a: dict[str, Any]) -> Outcome | None:
        if not _bounds_ok(a):
            return None
        column = a["column"]
        nulls = self._nulls(column)
        if self._rows > 0 and self._rows != nulls:
            distinct = pc.count_distinct(self._hashed(column), mode="only_valid").as_py()
            value: float = distinct / (self._rows - nulls)
        else:
            value = 0
        return self._between(value, a)

    def _non_null_proportion(self, a: dict[str, Any]) -> Outcome | None:
        if not _bounds_ok(a):
            return None
        column = a["column"]
        rows = self._rows
        value = (rows - self._nulls(column)) / rows if rows > 0 else 0
        return self._between(value, a)

    # -- table checks ------------------------------------------------------------------------

    def _column_exists(self, a: dict[str, Any]) -> Outcome | None:
        columns = self._data.column_names
        column, index = a["column"], a.get("column_index")
        if index is not None and not isinstance(index, int):
            return None
        if index:  # GX tests truthiness: column_index 0 means "anywhere"
            try:
                success = columns[index] == column
            except IndexError:
                success = False
        else:
            success = column in columns
        return self._aggregate(list(columns), success)

    def _row_count_between(self, a: dict[str, Any]) -> Outcome | None:
        if not _bounds_ok(a):
            return None
        lo, hi = a.get("min_value"), a.get("max_value")
        if lo is not None and hi is not None and lo > hi:
            raise ArgumentError(f"min_value ({lo}) must be less than or equal to max_value ({hi})")
        return self._between(self._rows, a)

    def _row_count_equal(self, a: dict[str, Any]) -> Outcome | None:
        if not _is_number(a["value"]):
            return None
        return self._aggregate(self._rows, bool(self._rows == a["value"]))

    def _column_count_equal(self, a: dict[str, Any]) -> Outcome | None:
        if not _is_number(a["value"]):
            return None
        count = self._data.num_columns
        return self._aggregate(count, bool(count == a["value"]))

    def _columns_match_set(self, a: dict[str, Any]) -> Outcome | None:
        expected_list = a.get("column_set")
        exact = a.get("exact_match", True)
        if not isinstance(exact, bool | None):
            return None
        if expected_list is not None and not isinstance(expected_list, list | set | tuple):
            return None
        actual = set(self._data.column_names)
        expected = set(expected_list) if expected_list is not None else set()
        observed = sorted(str(c) for c in actual)
        surplus, lacking = actual - expected, expected - actual
        return self._aggregate(observed, not lacking and (not surplus or not exact))

    def _columns_match_list(self, a: dict[str, Any]) -> Outcome | None:
        expected = a.get("column_list")
        if expected is not None and not isinstance(expected, list | tuple):
            return None
        actual = list(self._data.column_names)
        return self._aggregate(actual, expected is None or actual == list(expected))


_DISPATCH: dict[str, Callable[[ArrowEvaluator, dict[str, Any]], Outcome | None]] = {
    "column_to_exist": ArrowEvaluator._column_exists,
    "column_values_to_not_be_null": ArrowEvaluator._not_null,
    "column_values_to_be_null": ArrowEvaluator._null,
    "column_values_to_be_between": ArrowEvaluator._values_between,
    "column_values_to_be_in_set": ArrowEvaluator._in_set,
    "column_values_to_not_be_in_set": ArrowEvaluator._not_in_set,
    "column_values_to_be_unique": ArrowEvaluator._unique,
    "compound_columns_to_be_unique": ArrowEvaluator._compound_unique,
    "column_values_to_match_regex": ArrowEvaluator._regex,
    "column_values_to_not_match_regex": ArrowEvaluator._not_regex,
    "column_value_lengths_to_be_between": ArrowEvaluator._lengths_between,
    "column_min_to_be_between": ArrowEvaluator._min,
    "column_max_to_be_between": ArrowEvaluator._max,
    "column_mean_to_be_between": ArrowEvaluator._mean,
    "column_median_to_be_between": ArrowEvaluator._median,
    "column_sum_to_be_between": ArrowEvaluator._sum,
    "column_stdev_to_be_between": ArrowEvaluator._stdev,
    "column_distinct_values_to_be_in_set": ArrowEvaluator._distinct_in_set,
    "column_distinct_values_to_contain_set": ArrowEvaluator._distinct_contain_set,
    "column_distinct_values_to_equal_set": ArrowEvaluator._distinct_equal_set,
    "column_unique_value_count_to_be_between": ArrowEvaluator._unique_count,
    "column_proportion_of_unique_values_to_be_between": ArrowEvaluator._unique_proportion,
    "column_proportion_of_non_null_values_to_be_between": ArrowEvaluator._non_null_proportion,
    "table_row_count_to_be_between": ArrowEvaluator._row_count_between,
    "table_row_count_to_equal": ArrowEvaluator._row_count_equal,
    "table_column_count_to_equal": ArrowEvaluator._column_count_equal,
    "table_columns_to_match_set": ArrowEvaluator._columns_match_set,
    "table_columns_to_match_ordered_list": ArrowEvaluator._columns_match_list,
}

# Expectations the native evaluator covers (for some column types and arguments).
NATIVE: frozenset[str] = frozenset(_DISPATCH)


# -- helpers ------------------------------------------------------------------------------


def rows_at(data: pa.Table, positions: list[int]) -> list[dict[str, Any]]:
    """The rows at these positions, as dicts.

    Zero-copy slices: ``Table.take`` concatenates each column's chunks first (O(rows)).
    """
    if not positions:
        return []
    rows: list[dict[str, Any]] = pa.concat_tables([data.slice(i, 1) for i in positions]).to_pylist()
    return rows


def _true_count(mask: Any) -> int:
    total = pc.sum(mask).as_py()
    return int(total) if total is not None else 0


def _fold(op: Callable[[Any, Any], Any], arrays: list[Any]) -> Any:
    result = arrays[0]
    for array in arrays[1:]:
        result = op(result, array)
    return result


def _numpy_bool(mask: Any) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_numeric(typ: Any) -> bool:
    return bool(pa.types.is_integer(typ) or pa.types.is_floating(typ))


def _is_string(typ: Any) -> bool:
    return bool(pa.types.is_string(typ) or pa.types.is_large_string(typ))


def _mostly(value: Any) -> float:
    if value is None:
        return 1.0
    if not _is_number(value) or not 0 <= value <= 1:
        raise ArgumentError(f"mostly must be a number between 0 and 1, got {value!r}")
    return float(value)


def _bounds_ok(a: dict[str, Any]) -> bool:
    """Bounds the native path compares exactly as GX: numbers, and booleans for strict.

    GX takes dates too (and strings that parse as dates), for date columns: those go to GX.
    """
    for key in ("min_value", "max_value"):
        value = a.get(key)
        if value is not None and not _is_number(value):
            return False
    return all(isinstance(a.get(k, False), bool) for k in ("strict_min", "strict_max"))


def _in_bounds(value: Any, a: dict[str, Any]) -> bool:
    lo, hi = a.get("min_value"), a.get("max_value")
    above = lo is None or (value > lo if a.get("strict_min") else value >= lo)
    below = hi is None or (value < hi if a.get("strict_max") else value <= hi)
    return bool(above and below)


def _bounds_mask(values: Any, lo: Any, hi: Any, strict_min: bool, strict_max: bool) -> Any:
    """True where lo <(=) value <(=) hi; null where the value is null."""
    parts = []
    if lo is not None:
        parts.append((pc.greater if strict_min else pc.greater_equal)(values, lo))
    if hi is not None:
        parts.append((pc.less if strict_max else pc.less_equal)(values, hi))
    return _fold(pc.and_, parts)


def _as_compared(col: Any) -> Any:
    """Floats compare as float64, where the value set lives (float32 0.1 != 0.1, as in pandas)."""
    if pa.types.is_floating(col.type) and col.type != pa.float64():
        return col.cast(pa.float64())
    return col


def _coerce(values: Iterable[Any], typ: Any) -> tuple[Any, list[Any]] | None:
    """Split a value set into an Arrow array comparable with a column of ``typ`` and the values
    that can never equal one of its values (Python equality: 1 == 1.0 == True, "1" != 1).

    None when the column type is not one the native path compares.
    """
    members: list[Any] = []
    strangers: list[Any] = []
    if pa.types.is_integer(typ):
        info = np.iinfo(typ.to_pandas_dtype())
        for v in values:
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, int) and info.min <= int(v) <= info.max:
                members.append(int(v))
            elif v is not None:
                strangers.append(v)
        return pa.array(members, type=typ), strangers
    if pa.types.is_floating(typ):
        for v in values:
            if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v)):
                members.append(float(v) + 0.0)  # -0.0 + 0.0 is 0.0, as the hashed column
            elif v is not None:
                strangers.append(v)
        return pa.array(members, type=pa.float64()), strangers
    if _is_string(typ):
        for v in values:
            if isinstance(v, str):
                members.append(v)
            elif v is not None:
                strangers.append(v)
        return pa.array(members, type=typ), strangers
    return None


def _sorted(values: list[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types, as GX leaves them
        return values


def _duplicated(col: Any) -> Any:
    """True where a non-null value occurs more than once (pandas' duplicated(keep=False));
    None when no value does."""
    if pa.types.is_integer(col.type) and len(col) > col.null_count:
        if not col.null_count:
            values = col.to_numpy()
            # Ids are often written in order: then a sequential pass settles it.
            if bool(np.all(values[1:] > values[:-1]) or np.all(values[1:] < values[:-1])):
                return None
        low, high = (s.as_py() for s in pc.min_max(col).values())
        span = high - low + 1
        if span <= 4 * len(col) + 1024:
            # Dense integers (ids): a counting pass beats hashing several times over.
            # Shifted in Arrow, in a type that holds it: int8 - (-100) overflows int8.
            wide = col if col.type == pa.uint64() else col.cast(pa.int64())
            shifted = pc.subtract(pc.fill_null(wide, low), pa.scalar(low, wide.type))
            offsets = shifted.to_numpy().astype(np.int64, copy=False)
            valid = _numpy_bool(pc.is_valid(col)) if col.null_count else None
            counts = np.bincount(offsets if valid is None else offsets[valid], minlength=span)
            if counts.max() <= 1:
                return None
            repeated = (counts > 1)[offsets]
            return pa.array(repeated if valid is None else repeated & valid)
    if _is_numeric(col.type):
        # Sorting numbers beats hashing them (value_counts) ~8x on spread-out values.
        ordered = np.sort(col.drop_null().to_numpy())
        same = ordered[1:] == ordered[:-1]
        if not same.any():
            return None
        repeated = pa.array(np.unique(ordered[1:][same]), type=col.type)
    else:
        counts = pc.value_counts(col)
        repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        repeated = repeated.drop_null()
        if not len(repeated):
            return None
    return pc.is_in(col, value_set=repeated, skip_nulls=True)


def _codes(col: Any) -> tuple[np.ndarray[Any, np.dtype[np.int64]], int]:
    """Dense int64 codes of a column's values, null a code of its own, and how many there are."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    encoded = pc.dictionary_encode(col, null_encoding="encode")
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, max(len(encoded.dictionary), 1)


# -- regular expressions ----------------------------------------------------------------------

# GX's pandas metric is ``Series.str.contains(regex)``: Python ``re.search``, which pandas runs
# through RE2 only where the two agree. Same here: RE2 (vectorised) for patterns built from
# constructs both engines read alike, Python ``re`` over the distinct values otherwise.
_ASCII_ESCAPES = frozenset("dDwWbB")  # Unicode-aware in Python, ASCII-only in RE2


def _search(col: Any, pattern: re.Pattern[str]) -> Any:
    """True where the pattern is found in the value (``re.search``), null for nulls."""
    if _re2_agrees(pattern.pattern, col):
        try:
            return pc.match_substring_regex(col, pattern.pattern)
        except pa.ArrowInvalid:
            pass  # RE2 refuses it; Python below
    distinct = pc.unique(col).drop_null()
    hits = [s for s in distinct.to_pylist() if pattern.search(s) is not None]
    found = pc.is_in(col, value_set=pa.array(hits, type=col.type), skip_nulls=True)
    return pc.if_else(pc.is_null(col), pa.scalar(None, pa.bool_()), found)


def _re2_agrees(pattern: str, col: Any) -> bool:
    if "[:" in pattern or "{," in pattern:
        return False  # POSIX classes, {,n}
    ascii_classes = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if not escaped:
                return False
            if escaped in _ASCII_ESCAPES:
                ascii_classes = True
            elif not (escaped in "ntr" or (escaped.isascii() and not escaped.isalnum())):
                return False  # \s, \A, \Z, \1, \x41, \p...: read differently or not at all
            i += 2
            continue
        if pattern.startswith("(?", i) and not pattern.startswith("(?:", i):
            return False  # flags, lookarounds, named groups
        i += 1
    if ascii_classes and pc.all(pc.string_is_ascii(col)).as_py() is False:
        return False
    # Python's $ also matches before a trailing newline; RE2's only at the very end.
    return not ("$" in pattern and pc.any(pc.match_substring(col, "\n")).as_py())
