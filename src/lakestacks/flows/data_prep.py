"""The data-prep flow: ingest -> transform -> validate -> split -> commit.

Every table is checked before any is written, and a table is written once per run, so a
failed gate or a schema mismatch leaves every table at the version it had. The split is
assigned before the commit so the split table gets one version, not two. A source or prep
output whose rows (and the way it is written) equal what its last commit wrote is not
written again: the run reports the version that holds them, so unchanged data keeps its
version, and what reads it (resume, training, lineage) sees no change.

The tables a run writes (sources, prep outputs, quarantines, ``_validations``) commit as a
unit (:func:`lakestacks.data.journal.commit_unit`): runs of one local lake take turns to
commit, and a run that dies or fails after its first commit is rolled back, by the next
run or by itself, so no run is left half-written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.catalog import Catalog
from lakestacks.data.fingerprint import (
    FINGERPRINT_KEY,
    last_fingerprint,
    row_digests,
    table_fingerprint,
)
from lakestacks.data.journal import CommitUnit, commit_unit, recover
from lakestacks.data.sources import as_arrow, read_source
from lakestacks.data.split import SPLIT_COLUMN, assign_split, split_counts
from lakestacks.data.tables import (
    TableWrite,
    read_table,
    table_exists,
    table_info,
    write_table,
    write_tables,
)
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
from lakestacks.spec.stack import Stack

__all__ = [
    "VALIDATIONS_TABLE",
    "DataGateFailed",
    "DataPrepResult",
    "PrepOutputMissingColumns",
    "data_prep",
]

VALIDATIONS_TABLE = "_validations"


class DataGateFailed(UserError):
    """An expectation suite in enforce mode failed: no data table was committed (the failing
    rows still go to the quarantine and the checks to ``_validations``)."""


class PrepOutputMissingColumns(UserError):
    """A prep function returned a table without its keys or the training target: a data
    error, raised before any table is written."""


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
    unchanged: list[str] = field(default_factory=list)  # tables not re-committed: same data
    recovered: list[str] = field(default_factory=list)  # interrupted runs rolled back


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
    result.recovered = recover(resolved.runtime.lake)  # before reading: a dead run's tables
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
        check_prep_output(step, tables[step.output], _target_of(spec, step))

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
    planned = [] if blocked else list(tables)
    planned += [f"{name}__quarantine" for name in quarantine]
    planned += [VALIDATIONS_TABLE] if any(r.results for r in reports.values()) else []
    with commit_unit(
        resolved.runtime.lake, {cat.qualify(n): cat.table_path(n) for n in planned}
    ) as unit:
        result.recovered += unit.recovered
        if not blocked:
            versions, result.unchanged = runner.step(
                "commit", commit, resolved, tables, result.split, unit
            )
            result.wrote.update(versions)
        result.quarantined = runner.step(
            "quarantine", write_quarantine, cat, quarantine, started, unit
        )
        result.validations, result.docs = runner.step(
            "record validations", record_validations, resolved, reports, result.wrote, unit
        )
    result.rows = {cat.qualify(n): t.num_rows for n, t in tables.items()}
    if blocked:
        raise DataGateFailed(_gate_message(resolved, blocked, reports, quarantine, result))
    return result


def _target_of(spec: Stack, step: PrepStep) -> str | None:
    """The training target, when this step writes the table training reads."""
    if spec.training is None:
        return None
    trains_on = spec.training.table or split_table(spec.data)
    return spec.training.target if trains_on == step.output else None


def check_prep_output(step: PrepStep, table: pa.Table, target: str | None) -> None:
    """Refuse a prep output without its keys or the training target: with ``schema: merge``
    the write would succeed and keep stale values in the missing columns.

    Raises:
        PrepOutputMissingColumns: naming the step, what is missing and what it returned.
    """
    needed = dict.fromkeys(step.keys, "key")
    if target is not None:
        needed.setdefault(target, "training.target")
    missing = [f"{c} ({why})" for c, why in needed.items() if c not in table.column_names]
    if missing:
        raise PrepOutputMissingColumns(
            f"prep step {step.output!r} (function {step.function}) returned a table "
            f"missing {', '.join(missing)}; it returned {', '.join(table.column_names)}; "
            "no table was written; fix: return these columns from the prep function"
        )


def _gate_message(
    resolved: ResolvedStack,
    blocked: list[str],
    reports: dict[str, ValidationReport],
    quarantine: dict[str, pa.Table],
    result: DataPrepResult,
) -> str:
    """Why the gate failed, what was not committed and what was written (quarantine,
    ``_validations``, data docs)."""
    cat = resolved.catalog
    data = resolved.stack.data
    kept = [cat.qualify(n) for n in (*data.sources, *(s.output for s in data.prep))]
    failed = "; ".join(
        f"{cat.qualify(name)}: {', '.join(_check_name(r) for r in reports[name].failed)}"
        for name in blocked
    )
    lines = [
        f"data gate failed for {', '.join(blocked)} ({failed}); no data table was committed "
        f"({', '.join(dict.fromkeys(kept))} keep their versions)"
    ]
    wrote = []
    for name, rows in quarantine.items():
        table = cat.qualify(f"{name}__quarantine")
        added = result.quarantined.get(table, 0)
        if rows.num_rows:
            already = rows.num_rows - added
            note = f" ({already:,} already there)" if already else ""
            wrote.append(f"{added:,} failing row(s) appended to {table}{note}")
    if result.validations:
        wrote.append(f"the check results to {cat.qualify(VALIDATIONS_TABLE)}")
    if wrote:
        lines.append(f"written: {'; '.join(wrote)}")
    if result.docs:
        lines.append(f"data docs: {', '.join(result.docs)}")
    lines.extend(reports[name].summary() for name in blocked)
    return "\n".join(lines)


def _check_name(check: Any) -> str:
    column = check.column
    return f"{check.expectation} on {column}" if column else str(check.expectation)


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
            quarantine[name] = _quarantine_rows(tables[name], report)
        if suite.mode != "enforce":
            continue
        if suite.on_failure == "drop" and _row_failures(report) and report.failing is not None:
            tables[name] = tables[name].filter(pc.invert(report.failing))
        else:
            blocked.append(name)
    return blocked, quarantine


def _quarantine_rows(table: pa.Table, report: ValidationReport) -> pa.Table:
    """The failing rows, each with a digest of its values, the checks it failed and the run."""
    assert report.failing is not None  # noqa: S101 - the caller checked
    rows = table.filter(report.failing)
    flagged = [
        (_check_name(check), mask.filter(report.failing).to_pylist())
        for check, mask in zip(report.results, report.masks, strict=False)
        if mask is not None
    ]
    reasons = [[name for name, flags in flagged if flags[i]] for i in range(rows.num_rows)]
    return (
        rows.append_column("_row_digest", row_digests(rows))
        .append_column("_failed_checks", pa.array(reasons, pa.list_(pa.string())))
        .append_column("_run_id", pa.array([report.run_id] * rows.num_rows, pa.string()))
    )


def commit(
    resolved: ResolvedStack,
    tables: dict[str, pa.Table],
    split: dict[str, Any] | None,
    unit: CommitUnit | None = None,
) -> tuple[dict[str, int], list[str]]:
    """Write every table, sources first; all are checked before any is written.

    A table whose last commit recorded the fingerprint of these rows, written the same way,
    is not written again (an append always is).

    Returns:
        The version of each table, and the tables left as they were (same data).
    """
    data, cat = resolved.stack.data, resolved.catalog
    steps = {step.output: step for step in data.prep}
    versions: dict[str, int] = {}
    unchanged: list[str] = []
    writes, written = [], []
    for name, table in tables.items():
        step = steps.get(name)
        meta: dict[str, Any] = {
            "lakestacks.stack": resolved.stack.name,
            "lakestacks.env": resolved.runtime.env,
        }
        if split and split["table"] == cat.qualify(name):
            meta["lakestacks.split"] = {k: v for k, v in split.items() if k != "table"}
            meta["lakestacks.split_column"] = SPLIT_COLUMN
        write = TableWrite(
            cat.table_path(name),
            table,
            mode=step.mode if step else "overwrite",
            keys=step.keys if step else (),
            schema=step.schema_policy if step else "merge",
            metadata=meta,
        )
        qualified = cat.qualify(name)
        versions[qualified] = -1  # keeps the tables' order
        if write.mode != "append":
            fingerprint = table_fingerprint(
                table, mode=write.mode, keys=list(write.keys), schema=write.schema, meta=meta
            )
            # Merging the rows the last commit merged, or overwriting with them, changes
            # nothing: report the version that holds them instead of committing a copy.
            if last_fingerprint(write.path) == fingerprint:
                versions[qualified] = table_info(write.path).version
                unchanged.append(qualified)
                continue
            write = replace(write, metadata={**meta, FINGERPRINT_KEY: fingerprint})
        if unit is not None:  # not in the fingerprint: which run wrote it is no part of the data
            write = replace(write, metadata={**(write.metadata or {}), **unit.tag})
        writes.append(write)
        written.append(qualified)

    def committed(index: int, version: int) -> None:
        if unit is not None:
            unit.committed(written[index])

    versions.update(zip(written, write_tables(writes, committed), strict=True))
    return versions, unchanged


def write_quarantine(
    cat: Catalog, quarantine: dict[str, pa.Table], when: datetime, unit: CommitUnit | None = None
) -> dict[str, int]:
    """Append failing rows to ``<table>__quarantine``, stamped with the time of the run,
    except those it holds already (the same values, by ``_row_digest``): rerunning on the
    same bad data adds nothing.

    Returns:
        The rows appended per quarantine table (tables that got none are left out).
    """
    counts = {}
    for name, rows in quarantine.items():
        path = cat.table_path(f"{name}__quarantine")
        seen = _digests(path)
        if seen:
            rows = rows.filter(pc.invert(pc.is_in(rows["_row_digest"], pa.array(seen))))
        if rows.num_rows == 0:
            continue
        stamped = rows.append_column(
            "_quarantined_at", pa.array([when] * rows.num_rows, pa.timestamp("us", tz="UTC"))
        )
        metadata = unit.tag if unit is not None else None
        write_table(path, stamped, mode="append", schema="merge", metadata=metadata)
        counts[cat.qualify(f"{name}__quarantine")] = rows.num_rows
        if unit is not None:
            unit.committed(cat.qualify(f"{name}__quarantine"))
    return counts


def _digests(path: str) -> list[str]:
    """The row digests a quarantine table holds (none before quarantines carried them)."""
    if not table_exists(path):
        return []
    try:
        column = read_table(path, columns=["_row_digest"])["_row_digest"]
    except UserError:  # a quarantine written before rows had digests
        return []
    return [d for d in column.to_pylist() if d is not None]


def record_validations(
    resolved: ResolvedStack,
    reports: dict[str, ValidationReport],
    wrote: dict[str, int],
    unit: CommitUnit | None = None,
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
        metadata = unit.tag if unit is not None else None
        write_table(path, rows, mode="append", metadata=metadata)  # rows have one fixed schema
        if unit is not None:
            unit.committed(cat.qualify(VALIDATIONS_TABLE))
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
