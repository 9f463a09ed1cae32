"""Great Expectations: it runs what the native evaluator does not cover, and draws data docs.

``great_expectations`` costs ~4 s to import, so it is imported inside these functions, and
only when a suite needs it or a page is rendered. Runs use an ephemeral context (no files, no
network) over a pandas batch of the Arrow table, with GX's progress bars off.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa  # no stubs ship with pyarrow

from lakestacks.quality._arrow import rows_at
from lakestacks.quality.report import CheckResult, to_json, to_jsonable
from lakestacks.spec.expectations import class_name

if TYPE_CHECKING:
    from lakestacks.quality.report import ValidationReport

__all__ = ["GxRun", "render_html", "run_checks", "static_folder"]

GxRun = tuple[CheckResult, Any]  # the result and, for a failed row-level check, its mask

# Keys of a check that belong to the expectation itself rather than to its kwargs.
_NOT_KWARGS = ("meta", "notes", "description", "id")
_SAMPLE = 5
# Expectations whose domain is one or a few named columns.
_COLUMN_DOMAINS = ("column_", "compound_columns_", "multicolumn_", "select_column_")


def _import_gx() -> ModuleType:
    import great_expectations

    return great_expectations


def run_checks(
    table: str, data: pa.Table, checks: Sequence[tuple[str, dict[str, Any]]]
) -> list[GxRun]:
    """Validate checks with Great Expectations on a pandas batch of ``data``.

    Args:
        table: The table name (the suite's name).
        data: The batch.
        checks: ``(canonical name, kwargs)`` pairs; every column they name exists.

    Returns:
        One ``(CheckResult, mask)`` per check, in order; ``mask`` (True = unexpected row) is set
        for a failed row-level check, else None.
    """
    gx = _import_gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    # Expectations and suites need a current context, even before there is data.
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = gx.ExpectationSuite(name=table)
    errors: dict[str, str] = {}
    added: set[str] = set()
    for name, kwargs in checks:
        key = to_json([name, kwargs])
        if key in errors or key in added:
            continue  # a suite keeps one of equal expectations; duplicates share its result
        try:
            cls = getattr(gx.expectations, class_name(name))
            meta = dict(kwargs.get("meta") or {})
            meta["lakestacks_key"] = key
            suite.add_expectation(cls(**{**kwargs, "meta": meta}))
            added.add(key)
        except Exception as exc:  # GX refuses the arguments: the check fails, with why
            errors[key] = _one_line(exc)

    by_key: dict[str, Any] = {}
    if suite.expectations:
        batch = (
            context.data_sources.add_pandas("lakestacks")
            .add_dataframe_asset(name=table)
            .add_batch_definition_whole_dataframe("batch")
            .get_batch(batch_parameters={"dataframe": _frame(data, checks)})
        )
        # COMPLETE, for the positions of all unexpected rows (the quarantine mask).
        validation = batch.validate(
            suite, result_format={"result_format": "COMPLETE", "partial_unexpected_count": 20}
        )
        by_key = {r.expectation_config.meta["lakestacks_key"]: r for r in validation.results}

    runs: list[GxRun] = []
    for name, kwargs in checks:
        key = to_json([name, kwargs])
        if key in errors:
            runs.append(
                (
                    CheckResult.failure(
                        name, kwargs, errors[key], data.num_rows, "great_expectations"
                    ),
                    None,
                )
            )
        else:
            runs.append(_from_gx(name, kwargs, by_key[key], data))
    return runs


def _frame(data: pa.Table, checks: Sequence[tuple[str, dict[str, Any]]]) -> Any:
    """The pandas batch: only the columns the checks read, when that is clear.

    GX fingerprints a pandas batch by hashing every value, twice per run, and pandas copies
    what it converts: on 10M rows x 10 columns that is most of GX's time.
    """
    needed: set[str] = set()
    for name, kwargs in checks:
        table_level = name == "column_to_exist" or not name.startswith(_COLUMN_DOMAINS)
        if table_level or kwargs.get("row_condition"):
            return data.to_pandas()  # a condition or a table-level check may read any column
        for key in ("column", "column_A", "column_B"):
            if isinstance(kwargs.get(key), str):
                needed.add(kwargs[key])
        if isinstance(kwargs.get("column_list"), list):
            needed.update(c for c in kwargs["column_list"] if isinstance(c, str))
    if not needed:
        return data.to_pandas()
    return data.select([c for c in data.column_names if c in needed]).to_pandas()


def _from_gx(name: str, kwargs: dict[str, Any], evr: Any, data: pa.Table) -> GxRun:
    rows = data.num_rows
    message = _exception_message(evr.exception_info)
    if message is not None:
        return CheckResult.failure(name, kwargs, message, rows, "great_expectations"), None
    result: dict[str, Any] = dict(evr.result or {})
    success = bool(evr.success)
    if "element_count" not in result:  # an aggregate: a statistic, a column list, value sets
        observed: Any = result.get("observed_value")
        if name.startswith("column_distinct_values_"):
            keys = ["unexpected_count", "partial_unexpected_list"]
            keys += ["missing_count", "partial_missing_list"]
            observed = {k: _sorted(result[k]) for k in keys if k in result}
        check = CheckResult(
            expectation=name,
            kwargs=kwargs,
            success=success,
            observed=to_jsonable(observed),
            element_count=rows,
            unexpected_count=None,
            unexpected_percent=None,
            sample=[],
            engine="great_expectations",
        )
        return check, None

    count = int(result.get("unexpected_count") or 0)
    positions = [int(i) for i in result.get("unexpected_index_list") or []]
    mask = None
    if count and not success and len(positions) == count:
        flags = np.zeros(rows, dtype=bool)
        flags[positions] = True
        mask = pa.array(flags)
    observed = {"unexpected_count": count, "unexpected_percent": result.get("unexpected_percent")}
    if "missing_count" in result:
        observed["missing_count"] = result["missing_count"]
    observed["partial_unexpected_list"] = result.get("partial_unexpected_list", [])
    check = CheckResult(
        expectation=name,
        kwargs=kwargs,
        success=success,
        observed=to_jsonable(observed),
        element_count=int(result.get("element_count", rows)),
        unexpected_count=count,
        unexpected_percent=result.get("unexpected_percent"),
        sample=rows_at(data, positions[:_SAMPLE]) if count else [],
        engine="great_expectations",
    )
    return check, mask


def _exception_message(info: Any) -> str | None:
    """GX's exception_info is either one record or one record per failed metric."""
    if not isinstance(info, dict) or not info:
        return None
    records = [info] if "raised_exception" in info else list(info.values())
    for record in records:
        if isinstance(record, dict) and record.get("raised_exception"):
            return str(record.get("exception_message") or "the check raised an exception")
    return None


def _one_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: " + "; ".join(lines) if lines else type(exc).__name__


def _sorted(values: Any) -> Any:
    if not isinstance(values, list):
        return values
    try:
        return sorted(values)
    except TypeError:
        return values


# -- data docs ------------------------------------------------------------------------------


def render_html(report: ValidationReport) -> str:
    """GX's validation-results page for a report (whichever engine computed its results)."""
    gx = _import_gx()
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.render.renderer.page_renderer import ValidationResultsPageRenderer
    from great_expectations.render.view.view import DefaultJinjaPageView

    evrs = []
    for r in report.results:
        kwargs = {k: v for k, v in r.kwargs.items() if k not in _NOT_KWARGS}
        config = ExpectationConfiguration(
            type="expect_" + r.expectation,
            kwargs=to_jsonable(kwargs),
            meta={"engine": r.engine},
        )
        exception_info: dict[str, Any] = {
            "raised_exception": False,
            "exception_message": None,
            "exception_traceback": None,
        }
        if r.error is not None:
            # The renderer shows the message and expects a traceback text beside it.
            exception_info = {
                "raised_exception": True,
                "exception_message": r.error,
                "exception_traceback": r.error,
            }
        evrs.append(
            ExpectationValidationResult(
                success=r.success,
                expectation_config=config,
                result=_gx_result(r),
                exception_info=exception_info,
            )
        )
    passed = sum(r.success for r in report.results)
    total = len(report.results)
    validation = ExpectationSuiteValidationResult(
        success=report.success,
        results=evrs,
        suite_name=report.table,
        statistics={
            "evaluated_expectations": total,
            "successful_expectations": passed,
            "unsuccessful_expectations": total - passed,
            "success_percent": passed / total * 100 if total else None,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": RunIdentifier(run_name=report.run_id, run_time=report.started),
            "batch_spec": {
                "data_asset_name": report.table,
                "rows": str(report.rows),
                "mode": report.mode,
                "seconds": f"{report.seconds:.3f}",
            },
            # Which engine computed each check, named as in the stack.
            "batch_markers": {
                f"check {i + 1:02d}": f"{r.expectation} [{r.engine}]"
                for i, r in enumerate(report.results)
            },
        },
    )
    document = ValidationResultsPageRenderer().render(validation)
    view: Any = DefaultJinjaPageView()  # untyped render()
    return str(view.render(document))


def static_folder() -> Path:
    """GX's own assets for its pages (logo, favicon), in the installed package."""
    return Path(_import_gx().__file__ or "").parent / "render" / "view" / "static"


def _gx_result(r: CheckResult) -> dict[str, Any]:
    """The ``result`` dict GX would have produced for a check, rebuilt from the CheckResult."""
    if r.error is not None:
        return {}
    if r.unexpected_count is None:
        if isinstance(r.observed, dict):  # distinct-values checks: value lists
            return {"observed_value": None, **r.observed}
        return {"observed_value": r.observed}
    observed = r.observed if isinstance(r.observed, dict) else {}
    result: dict[str, Any] = {
        "element_count": r.element_count,
        "unexpected_count": r.unexpected_count,
        "unexpected_percent": r.unexpected_percent,
        "partial_unexpected_list": observed.get("partial_unexpected_list", []),
    }
    missing = observed.get("missing_count")
    if missing is not None and r.element_count:
        result["missing_count"] = missing
        result["missing_percent"] = missing / r.element_count * 100
        result["unexpected_percent_total"] = r.unexpected_count / r.element_count * 100
        result["unexpected_percent_nonmissing"] = r.unexpected_percent
    return result
