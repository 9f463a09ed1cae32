"""The data-prep flow: ingest -> transform -> validate -> split -> commit.

Every table is checked before any is written, and a table is written once per run, so a
failed gate or a schema mismatch leaves every table at the version it had. The split is
assigned before the commit so the split table gets one version, not two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.catalog import Catalog
from lakestacks.data.sources import as_arrow, read_source
from lakestacks.data.split import SPLIT_COLUMN, assign_split, split_counts
from lakestacks.data.tables import TableWrite, table_info, write_table, write_tables
from lakestacks.errors import UserError
from lakestacks.flows._runner import Runner
from lakestacks.quality import (
    ValidationReport,
    prepare_data_docs,
    report_rows,
    start_data_docs,
    validate,
)
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import load_ref
from lakestacks.spec.checks import split_table
from lakestacks.spec.data import PrepStep, Source, Suite

__all__ = ["VALIDATIONS_TABLE", "DataGateFailed", "DataPrepResult", "data_prep"]

VALIDATIONS_TABLE = "_validations"


class DataGateFailed(UserError):
    """An expectation suite in enforce mode failed: nothing was committed."""


@dataclass
class DataPrepResult:
    """What data prep read and wrote; later stages record it for lineage."""

    read: dict[str, dict[str, Any]] = field(default_factory=dict)
    wrote: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    validations: list[dict[str, Any]] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)
    split: dict[str, Any] | None = None
    docs: list[str] = field(default_factory=list)


def ingest(name: str, source: Source, catalog: Catalog, search_path: list[str]) -> pa.Table:
    """Read one source."""
    return read_source(name, source, catalog, search_path)


def transform(step: PrepStep, inputs: dict[str, pa.Table], search_path: list[str]) -> pa.Table:
    """Run a user's prep function on its inputs; it returns Arrow, polars or pandas."""
    function = load_ref(step.function, search_path)
    try:
        out = function(**inputs, **step.params)
    except UserError:
        raise
    except Exception as err:
        raise UserError(
            f"prep function {step.function} failed: {type(err).__name__}: {err}"
        ) from None
    return as_arrow(out, f"prep function {step.function}")


def _row_failures(report: ValidationReport) -> bool:
    """True when only row-level checks failed, so dropping the failing rows can fix it."""
    failed = [r for r in report.results if not r.success]
    return bool(failed) and all(r.unexpected_count is not None for r in failed)


def _source_record(name: str, source: Source, catalog: Catalog) -> dict[str, Any]:
    if source.generator:
        return {"kind": "generator", "ref": source.generator, "params": source.params}
    if source.table:
        path = catalog.table_path(source.table)
        version = source.version if source.version is not None else table_info(path).version
        return {"kind": "table", "table": catalog.qualify(source.table), "version": version}
    return {"kind": "file", "path": source.path}


def data_prep(resolved: ResolvedStack, runner: Runner) -> DataPrepResult:
    """Run data prep for a stack: the flow body, one runner step per task.

    Raises:
        DataGateFailed: an enforce-mode suite failed; no table was written (exit code 2).

    Example:
        >>> result, _ = run_flow("data_prep", lambda r: data_prep(s, r), "direct")  # doctest: +SKIP
        >>> result.wrote["main.churn.features"]  # doctest: +SKIP
        0
    """
    spec, cat = resolved.stack, resolved.catalog
    data = spec.data
    search = resolved.search_path
    result = DataPrepResult()
    if _draws_docs(resolved):
        prepare_data_docs()  # the page worker imports GX while data prep and training run
    tables: dict[str, pa.Table] = {}
    for name, source in data.sources.items():
        tables[name] = runner.step(f"ingest {name}", ingest, name, source, cat, search)
        result.read[name] = _source_record(name, source, cat)
    for step in data.prep:
        inputs = {n: tables[n] for n in (step.inputs or list(data.sources))}
        tables[step.output] = runner.step(
            f"transform {step.output}", transform, step, inputs, search
        )

    reports: dict[str, ValidationReport] = {}
    for name, suite in data.expectations.items():
        reports[name] = runner.step(f"validate {name}", validate, name, tables[name], suite)
    blocked, quarantine = _apply_gate(data.expectations, reports, tables)

    to_split = split_table(data)
    if data.split is not None and to_split is not None and not blocked:
        s = data.split
        tables[to_split] = runner.step(
            "split", assign_split, tables[to_split], s.by, s.test, s.validation, s.seed
        )
        result.split = {
            "table": cat.qualify(to_split),
            "by": s.by,
            "seed": s.seed,
            "test": s.test,
            "validation": s.validation,
            "counts": split_counts(tables[to_split]),
        }

    started = datetime.now(UTC)
    if not blocked:
        versions = runner.step("commit", commit, resolved, tables, result.split)
        result.wrote.update(versions)
    result.quarantined = runner.step("quarantine", write_quarantine, cat, quarantine, started)
    result.validations, result.docs = runner.step(
        "record validations", record_validations, resolved, reports, result.wrote
    )
    result.rows = {cat.qualify(n): t.num_rows for n, t in tables.items()}
    if blocked:
        summaries = "\n".join(reports[name].summary() for name in blocked)
        raise DataGateFailed(
            f"data gate failed for {', '.join(blocked)}; no table was written\n{summaries}"
        )
    return result


def _draws_docs(resolved: ResolvedStack) -> bool:
    """Whether this data prep draws data-docs pages: a suite that runs, and a local lake."""
    suites = resolved.stack.data.expectations.values()
    return "://" not in resolved.runtime.lake and any(s.mode != "off" for s in suites)


def _apply_gate(
    suites: dict[str, Suite], reports: dict[str, ValidationReport], tables: dict[str, pa.Table]
) -> tuple[list[str], dict[str, pa.Table]]:
    """Decide per table: block the run, drop failing rows, or go on; collect quarantine rows."""
    blocked: list[str] = []
    quarantine: dict[str, pa.Table] = {}
    for name, report in reports.items():
        suite = suites[name]
        if report.success or suite.mode == "off":
            continue
        if report.failing is not None and suite.quarantine:
            quarantine[name] = tables[name].filter(report.failing)
        if suite.mode != "enforce":
            continue
        if suite.on_failure == "drop" and _row_failures(report) and report.failing is not None:
            tables[name] = tables[name].filter(pc.invert(report.failing))
        else:
            blocked.append(name)
    return blocked, quarantine


def commit(
    resolved: ResolvedStack, tables: dict[str, pa.Table], split: dict[str, Any] | None
) -> dict[str, int]:
    """Write every table, sources first; all are checked before any is written."""
    data, cat = resolved.stack.data, resolved.catalog
    steps = {step.output: step for step in data.prep}
    writes = []
    for name, table in tables.items():
        step = steps.get(name)
        meta: dict[str, Any] = {
            "lakestacks.stack": resolved.stack.name,
            "lakestacks.env": resolved.runtime.env,
        }
        if split and split["table"] == cat.qualify(name):
            meta["lakestacks.split"] = {k: v for k, v in split.items() if k != "table"}
            meta["lakestacks.split_column"] = SPLIT_COLUMN
        writes.append(
            TableWrite(
                cat.table_path(name),
                table,
                mode=step.mode if step else "overwrite",
                keys=step.keys if step else (),
                schema=step.schema_policy if step else "merge",
                metadata=meta,
            )
        )
    versions = write_tables(writes)
    return {cat.qualify(name): v for name, v in zip(tables, versions, strict=True)}


def write_quarantine(
    cat: Catalog, quarantine: dict[str, pa.Table], when: datetime
) -> dict[str, int]:
    """Append failing rows to ``<table>__quarantine``, stamped with the time of the run."""
    counts = {}
    for name, rows in quarantine.items():
        if rows.num_rows == 0:
            continue
        stamped = rows.append_column(
            "_quarantined_at", pa.array([when] * rows.num_rows, pa.timestamp("us", tz="UTC"))
        )
        write_table(cat.table_path(f"{name}__quarantine"), stamped, mode="append", schema="merge")
        counts[cat.qualify(f"{name}__quarantine")] = rows.num_rows
    return counts


def record_validations(
    resolved: ResolvedStack, reports: dict[str, ValidationReport], wrote: dict[str, int]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Append each report to ``_validations`` and start drawing its data-docs page, pass or fail."""
    cat = resolved.catalog
    docs_dir = Path(resolved.runtime.lake) / "_reports" / "data_docs"
    summaries = []
    done = [r for r in reports.values() if r.results]
    for report in done:
        name = report.table
        version = wrote.get(cat.qualify(name))
        rows = report_rows(report, version)
        path = cat.table_path(VALIDATIONS_TABLE)
        write_table(path, rows, mode="append")  # rows have one fixed schema
        failed = [r.expectation for r in report.results if not r.success]
        summaries.append(
            {
                "table": cat.qualify(name),
                "success": report.success,
                "mode": report.mode,
                "checks": len(report.results),
                "failed": failed,
                "version": version,
            }
        )
    docs = start_data_docs(done, docs_dir) if _draws_docs(resolved) else []  # api.run waits
    return summaries, [str(p) for p in docs]
