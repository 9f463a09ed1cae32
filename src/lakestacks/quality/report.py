"""Validation results: one :class:`CheckResult` per check, a :class:`ValidationReport` per table,
their rows for the ``_validations`` Delta table (their data-docs pages: ``quality.docs``)."""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import pyarrow as pa  # no stubs ship with pyarrow

__all__ = [
    "VALIDATIONS_SCHEMA",
    "CheckResult",
    "ValidationReport",
    "report_rows",
]

Engine = Literal["arrow", "great_expectations"]

# The ``_validations`` table: one row per check and run.
VALIDATIONS_SCHEMA = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("table", pa.string(), nullable=False),
        pa.field("table_version", pa.int64()),
        pa.field("mode", pa.string(), nullable=False),
        pa.field("started", pa.timestamp("us", tz="UTC"), nullable=False),
        pa.field("expectation", pa.string(), nullable=False),
        pa.field("column", pa.string()),
        pa.field("kwargs", pa.string(), nullable=False),
        pa.field("success", pa.bool_(), nullable=False),
        pa.field("observed", pa.string(), nullable=False),
        pa.field("element_count", pa.int64(), nullable=False),
        pa.field("unexpected_count", pa.int64()),
        pa.field("unexpected_percent", pa.float64()),
        pa.field("engine", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class CheckResult:
    """The result of one expectation on one table.

    Attributes:
        expectation: Canonical name, e.g. ``column_values_to_be_between``.
        kwargs: Its arguments as written in the stack (column, min_value, ...).
        success: Whether the expectation held.
        observed: What was seen, as Great Expectations reports it: for a row-level check a
            mapping with ``unexpected_count``, ``unexpected_percent``, ``missing_count`` and
            ``partial_unexpected_list``; for an aggregate the statistic (the mean, the row
            count...); ``{"error": ...}`` when the check could not run (a missing column).
        element_count: Rows in the table.
        unexpected_count: Unexpected rows; None for aggregate checks.
        unexpected_percent: Unexpected share of the non-null rows in percent (of all rows for
            the (not_)null checks); None for aggregate checks.
        sample: Up to five unexpected rows, whole, as dicts.
        engine: ``arrow`` (the native evaluator) or ``great_expectations``.
    """

    expectation: str
    kwargs: dict[str, Any]
    success: bool
    observed: Any
    element_count: int
    unexpected_count: int | None
    unexpected_percent: float | None
    sample: list[dict[str, Any]]
    engine: Engine

    @classmethod
    def failure(
        cls, name: str, kwargs: dict[str, Any], message: str, rows: int, engine: Engine
    ) -> CheckResult:
        """A check that could not run (a missing column, a bad argument): failed, with why."""
        return cls(
            expectation=name,
            kwargs=kwargs,
            success=False,
            observed={"error": message},
            element_count=rows,
            unexpected_count=None,
            unexpected_percent=None,
            sample=[],
            engine=engine,
        )

    @property
    def column(self) -> str | None:
        """The column the check is about, when it names a single one."""
        column = self.kwargs.get("column")
        return column if isinstance(column, str) else None

    @property
    def error(self) -> str | None:
        """Why the check could not run (a missing column, bad arguments), if so."""
        if isinstance(self.observed, dict) and set(self.observed) == {"error"}:
            return str(self.observed["error"])
        return None


@dataclass(frozen=True)
class ValidationReport:
    """The results of a table's expectation suite on one batch of data.

    Attributes:
        table: The table name as given to :func:`~lakestacks.quality.validate`.
        mode: The suite's mode (``off``, ``dry_run``, ``enforce``); acting on it is the caller's.
        success: True when every check passed.
        rows: Rows validated.
        results: One result per check, in the suite's order.
        failing: Boolean mask over the rows, True where a row fails at least one failed
            row-level check (for quarantine); None when no row-level check failed.
        started: When validation began (UTC).
        seconds: How long it took.
        run_id: A uuid4 hex naming this run.
        masks: One entry per result: for a failed row-level check the mask of its
            unexpected rows (True = unexpected), else None; empty when not computed.
    """

    table: str
    mode: str
    success: bool
    rows: int
    results: list[CheckResult]
    failing: pa.ChunkedArray | pa.Array | None
    started: dt.datetime
    seconds: float
    run_id: str
    masks: list[Any] = field(default_factory=list)

    @property
    def failed(self) -> list[CheckResult]:
        """The checks that did not pass."""
        return [r for r in self.results if not r.success]

    def summary(self, max_failures: int = 10) -> str:
        """A short human report: each failed expectation, its column, what was observed and
        a sample of bad rows.

        Example:
            >>> print(report.summary())  # doctest: +SKIP
            features: 1 of 6 checks failed on 1,000 rows (0.004 s, run 5c1d0e2a)
            - column_values_to_be_between on tenure (min_value=0, max_value=120): 2 unexpected
              rows (0.2% of non-null), values [999, -1]
                bad row: {'customer_id': 17, 'tenure': 999, ...}
        """
        failed = self.failed
        head = (
            f"{self.table}: {len(failed)} of {len(self.results)} checks failed"
            if failed
            else f"{self.table}: all {len(self.results)} checks passed"
        )
        lines = [f"{head} on {self.rows:,} rows ({self.seconds:.3f} s, run {self.run_id[:8]})"]
        for result in failed[:max_failures]:
            lines.append(f"- {_describe(result)}: {_observation(result)}")
            lines.extend(f"    bad row: {_clip(repr(row), 200)}" for row in result.sample[:3])
        if len(failed) > max_failures:
            lines.append(f"- ... and {len(failed) - max_failures} more failed checks")
        return "\n".join(lines)


def report_rows(report: ValidationReport, table_version: int | None) -> pa.Table:
    """One row per check for the ``_validations`` Delta table (schema ``VALIDATIONS_SCHEMA``).

    Args:
        report: The validation to record.
        table_version: The Delta version the data was committed as, None if it was not.

    Returns:
        An Arrow table; ``kwargs`` and ``observed`` are JSON strings.

    Example:
        >>> rows = report_rows(report, table_version=3)  # doctest: +SKIP
        >>> rows.column("expectation").to_pylist()  # doctest: +SKIP
        ['column_values_to_not_be_null', 'column_values_to_be_unique']
    """
    results = report.results
    started = report.started.astimezone(dt.UTC)
    columns = {
        "run_id": [report.run_id] * len(results),
        "table": [report.table] * len(results),
        "table_version": [table_version] * len(results),
        "mode": [report.mode] * len(results),
        "started": [started] * len(results),
        "expectation": [r.expectation for r in results],
        "column": [r.column for r in results],
        "kwargs": [to_json(r.kwargs) for r in results],
        "success": [r.success for r in results],
        "observed": [to_json(r.observed) for r in results],
        "element_count": [r.element_count for r in results],
        "unexpected_count": [r.unexpected_count for r in results],
        "unexpected_percent": [r.unexpected_percent for r in results],
        "engine": [r.engine for r in results],
    }
    return pa.Table.from_pydict(columns, schema=VALIDATIONS_SCHEMA)


# -- helpers ------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for what results hold (numpy scalars, dates, NaN, sets)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    item = getattr(value, "item", None)  # numpy and pandas scalars
    if callable(item):
        try:
            return to_jsonable(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def to_json(value: Any) -> str:
    """``to_jsonable`` as a compact JSON string."""
    return json.dumps(to_jsonable(value), separators=(",", ":"), sort_keys=True)


def _describe(result: CheckResult) -> str:
    args = {k: v for k, v in result.kwargs.items() if k != "column"}
    text = result.expectation
    if result.column is not None:
        text += f" on {result.column}"
    if args:
        text += " (" + ", ".join(f"{k}={_clip(repr(v), 60)}" for k, v in args.items()) + ")"
    return text


def _observation(result: CheckResult) -> str:
    if result.error is not None:
        return result.error
    if result.unexpected_count is not None:
        percent = result.unexpected_percent
        share = f"{percent:.4g}%" if percent is not None else "n/a"
        of = "all rows" if result.expectation.endswith("_null") else "non-null"
        count = result.unexpected_count
        text = f"{count:,} unexpected row{'' if count == 1 else 's'} ({share} of {of})"
        values = result.observed.get("partial_unexpected_list") if result.observed else None
        if values and not result.expectation.endswith("_null"):
            text += f", values {_clip(repr(to_jsonable(values[:5])), 100)}"
        return text
    return f"observed {_clip(repr(to_jsonable(result.observed)), 200)}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
