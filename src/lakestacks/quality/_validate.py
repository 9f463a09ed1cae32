"""The data gate: a table's expectation suite run on an Arrow table before it is committed."""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pyarrow as pa  # no stubs ship with pyarrow
import pyarrow.compute as pc

from lakestacks.quality._arrow import ArgumentError, ArrowEvaluator, Outcome, rows_at
from lakestacks.quality.report import CheckResult, ValidationReport
from lakestacks.spec.data import Suite
from lakestacks.spec.expectations import canonical_name

__all__ = ["validate"]

_SAMPLE = 5
# Below this many rows a thread pool costs more than it saves.
_PARALLEL_ROWS = 200_000
# Checks whose column arguments are data to compare, not columns to read.
_COLUMNS_AS_DATA = frozenset(
    {"column_to_exist", "table_columns_to_match_set", "table_columns_to_match_ordered_list"}
)


def validate(
    table_name: str,
    data: pa.Table,
    suite: Suite,
    *,
    engine: Literal["auto", "great_expectations"] = "auto",
) -> ValidationReport:
    """Run a table's expectation suite on a batch of data, before it is written.

    Common expectations run natively on Arrow (vectorised, no copy to pandas) with Great
    Expectations' semantics; the others run in Great Expectations, imported only then. A check
    naming a column the table lacks fails with ``observed == {"error": ...}``. The suite's
    ``mode`` and ``quarantine`` are the caller's to act on: this only reports (``success`` is
    False when any check fails, whatever the mode), except that mode ``off`` runs nothing.

    Args:
        table_name: The table's name, for the report.
        data: The rows to validate.
        suite: The table's suite from the stack.
        engine: ``"auto"`` (native where it can, else GX) or ``"great_expectations"`` to run
            every check in GX (to compare, or to measure).

    Returns:
        The report: one result per check, in order, and the mask of failing rows.

    Example:
        >>> suite = Suite(checks=[{"expect": "column_values_to_not_be_null", "column": "id"}])
        >>> report = validate("features", pa.table({"id": [1, None, 3]}), suite)
        >>> report.success, report.results[0].unexpected_count
        (False, 1)
    """
    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    run_id = uuid.uuid4().hex
    rows = data.num_rows
    if suite.mode == "off":
        return ValidationReport(
            table=table_name,
            mode=suite.mode,
            success=True,
            rows=rows,
            results=[],
            failing=None,
            started=started,
            seconds=time.perf_counter() - clock,
            run_id=run_id,
        )

    checks = [(canonical_name(c.expect), dict(c.model_extra or {})) for c in suite.checks]
    results: list[CheckResult | None] = [None] * len(checks)
    masks: dict[int, Any] = {}  # check index -> mask of its unexpected rows
    runnable: list[int] = []
    for i, (name, kwargs) in enumerate(checks):
        absent = _absent_columns(name, kwargs, data.column_names)
        if absent:
            listed = ", ".join(repr(c) for c in absent)
            results[i] = CheckResult.failure(
                name, kwargs, f"missing column {listed}", rows, "arrow"
            )
        else:
            runnable.append(i)

    deferred: list[int] = []
    if engine == "auto":
        evaluator = ArrowEvaluator(data)

        def attempt(i: int) -> Outcome | str | None:
            try:
                return evaluator.evaluate(*checks[i])
            except ArgumentError as exc:
                return f"invalid arguments: {exc}"
            except pa.ArrowException:
                return None  # a type combination Arrow's kernels lack: GX decides

        if rows >= _PARALLEL_ROWS and len(runnable) > 1:
            # Arrow kernels and numpy sorts release the GIL: checks overlap on the cores.
            workers = min(len(runnable), os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                outcomes = list(pool.map(attempt, runnable))
        else:
            outcomes = [attempt(i) for i in runnable]
        for i, outcome in zip(runnable, outcomes, strict=True):
            name, kwargs = checks[i]
            if outcome is None:
                deferred.append(i)
            elif isinstance(outcome, str):
                results[i] = CheckResult.failure(name, kwargs, outcome, rows, "arrow")
            else:
                results[i] = _to_result(name, kwargs, outcome, data)
                if not outcome.success and outcome.mask is not None:
                    masks[i] = outcome.mask
    else:
        deferred = runnable

    if deferred:
        from lakestacks.quality._gx import run_checks

        for i, (result, mask) in zip(
            deferred, run_checks(table_name, data, [checks[i] for i in deferred]), strict=True
        ):
            results[i] = result
            if mask is not None:
                masks[i] = mask

    done = [r for r in results if r is not None]
    failing = None
    for mask in masks.values():
        failing = mask if failing is None else pc.or_(failing, mask)
    return ValidationReport(
        table=table_name,
        mode=suite.mode,
        success=all(r.success for r in done),
        rows=rows,
        results=done,
        failing=failing,
        started=started,
        seconds=time.perf_counter() - clock,
        run_id=run_id,
        masks=[masks.get(i) for i in range(len(checks))],
    )


def _absent_columns(name: str, kwargs: dict[str, Any], present: list[str]) -> list[str]:
    if name in _COLUMNS_AS_DATA:
        return []
    named: list[Any] = [kwargs.get(k) for k in ("column", "column_A", "column_B")]
    column_list = kwargs.get("column_list")
    if isinstance(column_list, list):
        named.extend(column_list)
    have = set(present)
    return [c for c in named if isinstance(c, str) and c not in have]


def _to_result(name: str, kwargs: dict[str, Any], outcome: Outcome, data: pa.Table) -> CheckResult:
    sample: list[dict[str, Any]] = []
    if outcome.first:
        # data.filter(mask).slice(0, 5), without filtering every column of the table.
        sample = rows_at(data, outcome.first[:_SAMPLE])
    return CheckResult(
        expectation=name,
        kwargs=kwargs,
        success=outcome.success,
        observed=outcome.observed,
        element_count=outcome.element_count,
        unexpected_count=outcome.unexpected_count,
        unexpected_percent=outcome.unexpected_percent,
        sample=sample,
        engine="arrow",
    )
