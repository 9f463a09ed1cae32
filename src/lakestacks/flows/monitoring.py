"""Monitoring: the inference table's complete windows against the baseline, kept in Delta.

Each run reads only rows past the watermark (the end of the last window it computed; the
timestamp filter skips older files by their statistics), profiles and tests each new
complete window, and merges the rows into ``<table>_profile_metrics`` and
``<table>_drift_metrics`` on their keys, so a run that dies half-way is simply run again.
The baseline's summary is computed once per table version and kept in ``_monitor_baselines``.
The breach rule runs over the windows in time order; a breach is audited
(``drift_breach``) and its action returned (the stage retrains: ``flows.retrain``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lakestacks import registry
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import (
    read_table,
    table_exists,
    table_info,
    table_schema,
    write_table,
)
from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext
from lakestacks.flows.training import training_table
from lakestacks.monitoring.quality import realised
from lakestacks.monitoring.reference import ColumnSummary, column_kind, summarise
from lakestacks.monitoring.windows import (
    PROBABILITY,
    QUALITY_SCHEMA,
    TIMESTAMP,
    Verdict,
    breaches,
    compute,
    decides,
    judge,
    slices,
    window_starts,
)
from lakestacks.spec.monitoring import MonitoringSection, granularity_seconds

__all__ = ["BASELINES_TABLE", "MonitorResult", "monitor", "monitoring_section"]

BASELINES_TABLE = "_monitor_baselines"
# Columns of an inference table that describe the request, not the model's inputs.
_NOT_INPUTS = frozenset(
    {
        "request_id", "endpoint", "model_name", "model_version", "arm", "status", "error",
        "latency_ms", "timestamp", "prediction", "probability", "refused", "scored_at",
        SPLIT_COLUMN,
    }
)  # fmt: skip


@dataclass
class MonitorResult:
    """What a monitoring run computed and decided.

    Attributes:
        table: The watched table (catalog name).
        baseline: The baseline, e.g. ``main.churn.features v3 (train split)``.
        columns: The columns watched.
        windows: The windows computed by this run, in time order, with their verdicts.
        breach: The first window at which the rule breached in this run, if any.
        action: What the breach calls for: ``retrain``, ``alert`` or ``none``; empty without one.
        note: Why nothing was computed (no table yet, no new complete window), if so.
        labelled: Windows given realised quality by this run, from labels that arrived.
    """

    table: str
    baseline: str
    columns: list[str]
    profile_table: str
    drift_table: str
    windows: list[Verdict] = field(default_factory=list)
    breach: Verdict | None = None
    action: str = ""
    note: str | None = None
    source_version: int | None = None
    seconds: float = 0.0
    labelled: int = 0  # windows whose realised quality this run computed (labels arrived)


def monitoring_section(ctx: RunContext) -> MonitoringSection:
    """The stack's monitoring section.

    Raises:
        UserError: the stack has none.
    """
    section = ctx.resolved.stack.monitoring
    if section is None:
        raise UserError("the stack has no monitoring section; add one to monitor its traffic")
    return section


def _baseline(ctx: RunContext, section: MonitoringSection) -> tuple[str, str, int, bool]:
    """The baseline's catalog name, path, version, and whether to keep only its train split."""
    cat = ctx.catalog
    if section.baseline is not None:
        name = cat.qualify(section.baseline)
        path = cat.table_path(section.baseline)
        if not table_exists(path):
            raise UserError(
                f"monitoring.baseline {name} does not exist; run `stacks run data_prep` first"
            )
        return name, path, table_info(path).version, True
    if ctx.resolved.stack.training is None:
        raise UserError("monitoring.baseline is not set and the stack trains no model: name one")
    champion = ctx.registry.alias_version(ctx.model, registry.CHAMPION)
    if champion is None:
        raise UserError(
            f"{ctx.model} has no champion to take the baseline from; run the pipeline, or set "
            "monitoring.baseline"
        )
    name = cat.qualify(training_table(ctx.resolved))
    version = ctx.registry.read_record(ctx.model, champion).inputs.get(name)
    if version is None:
        raise UserError(
            f"{ctx.model}/{champion} records no version of {name}; set monitoring.baseline"
        )
    return name, cat.table_path(name), version, True


def _columns(
    section: MonitoringSection, source: pa.Schema, baseline: pa.Schema, target: str | None
) -> list[str]:
    wanted = section.columns or section.drift.columns
    if wanted:
        for name in wanted:
            for what, schema in (("table", source), ("baseline", baseline)):
                if name not in schema.names:
                    raise UserError(
                        f"monitoring.columns: {name!r} is not a column of the {what} "
                        f"({', '.join(schema.names)})"
                    )
        return list(wanted)
    return [
        f.name
        for f in source
        if f.name in baseline.names
        and f.name not in _NOT_INPUTS
        and f.name != target
        and column_kind(f.type) is not None
    ]


def _baseline_summaries(
    ctx: RunContext,
    name: str,
    path: str,
    version: int,
    schema: pa.Schema,
    columns: list[str],
    train_only: bool,
) -> dict[str, ColumnSummary]:
    """The baseline's column summaries, from the cache when this version was summarised."""
    cache = ctx.catalog.table_path(BASELINES_TABLE)
    keys = {c: f"{name}@{version}{'/train' if train_only else ''}:{c}" for c in columns}
    found: dict[str, ColumnSummary] = {}
    if table_exists(cache):
        rows = read_table(cache, filter=pc.field("key").isin(list(keys.values())))
        by_key = dict(zip(rows["key"].to_pylist(), rows["summary"].to_pylist(), strict=True))
        for column, key in keys.items():
            if key in by_key:
                found[column] = ColumnSummary.from_record(json.loads(by_key[key]))
    missing = [c for c in columns if c not in found]
    if missing:
        read = [*missing, SPLIT_COLUMN] if train_only else missing
        data = read_table(path, version=version, columns=[c for c in read if c in schema.names])
        if train_only and SPLIT_COLUMN in data.column_names:
            data = data.filter(pc.equal(data[SPLIT_COLUMN], "train"))
        new = {c: summarise(c, data[c]) for c in missing}
        _cache(ctx, {keys[c]: json.dumps(new[c].to_record()) for c in missing})
        found |= new
    return found


def _last_window(ctx: RunContext, table: str) -> dict[str, dict[str, ColumnSummary]]:
    """The summaries of the last window a run computed, by slice and column (kept in
    ``_monitor_baselines``): the next run tests its first window against them."""
    cache = ctx.catalog.table_path(BASELINES_TABLE)
    if not table_exists(cache):
        return {}
    prefix = f"{table}#last:"
    rows = read_table(cache, filter=pc.starts_with(pc.field("key"), prefix))
    kept = [
        (key.removeprefix(prefix).rsplit(":", 1), json.loads(text))
        for key, text in zip(rows["key"].to_pylist(), rows["summary"].to_pylist(), strict=True)
    ]
    newest = max((entry["window"] for _, entry in kept), default=None)
    out: dict[str, dict[str, ColumnSummary]] = {}
    for (slice_name, column), entry in kept:
        if entry["window"] == newest:  # a slice the newest window lacked is older: left out
            out.setdefault(slice_name, {})[column] = ColumnSummary.from_record(entry["summary"])
    return out


def _keep_last_window(
    ctx: RunContext, table: str, window: datetime, last: dict[str, dict[str, ColumnSummary]]
) -> None:
    stamp = window.isoformat()
    _cache(
        ctx,
        {
            f"{table}#last:{s}:{c}": json.dumps({"window": stamp, "summary": v.to_record()})
            for s, cols in last.items()
            for c, v in cols.items()
        },
    )


def _cache(ctx: RunContext, summaries: dict[str, str]) -> None:
    """Merge summaries (JSON, by key) into ``_monitor_baselines``."""
    if not summaries:
        return
    now = pa.array([datetime.now(UTC)] * len(summaries), TIMESTAMP)
    write_table(
        ctx.catalog.table_path(BASELINES_TABLE),
        pa.table({"key": list(summaries), "summary": list(summaries.values()), "computed_at": now}),
        mode="merge",
        keys=["key"],
    )


def _watermark(drift_path: str) -> datetime | None:
    if not table_exists(drift_path):
        return None
    ends = read_table(drift_path, columns=["window_end"])["window_end"]
    latest = pc.max(ends).as_py() if len(ends) else None
    return latest if isinstance(latest, datetime) else None


def _recent_verdicts(
    drift_path: str, since: datetime, columns: int, drift_share: float
) -> list[Verdict]:
    """Every window's verdict from the drift table, from ``since`` on, judged as
    :func:`compute` judges them: against the baseline, in the slices that decide."""
    after = pc.field("window_start") >= pa.scalar(since, TIMESTAMP)
    rows = read_table(drift_path, filter=after & (pc.field("against") == "baseline"))
    windows: dict[datetime, tuple[datetime, int, dict[str, list[str]]]] = {}
    for r in rows.select(
        ["window_start", "window_end", "slice", "column", "drifted", "rows"]
    ).to_pylist():
        end, count, by_slice = windows.get(r["window_start"], (r["window_end"], 0, {}))
        drifted = by_slice.setdefault(r["slice"], [])
        if r["drifted"]:
            drifted.append(r["column"])
        windows[r["window_start"]] = (end, max(count, r["rows"]), by_slice)
    return [
        judge(
            start,
            end,
            count,
            (tuple(sorted(d)) for name, d in by_slice.items() if decides(name)),
            columns,
            drift_share,
        )
        for start, (end, count, by_slice) in sorted(windows.items())
    ]


_QUALITY_KEYS = ["window_start", "slice", "metric", "kind"]


def _realised_quality(
    ctx: RunContext,
    section: MonitoringSection,
    source: str,
    schema: pa.Schema,
    quality_path: str,
    seconds: int,
) -> int:
    """Join the labels to every computed window's rows and write the realised quality; only
    when the labels table changed since the last time (labels arrive late). Returns the
    windows measured."""
    labels = section.labels
    if labels is None:
        return 0
    cat = ctx.catalog
    path = cat.table_path(labels.table)
    if not table_exists(path):
        return 0
    version = table_info(path).version
    if table_exists(quality_path):
        seen = read_table(quality_path, columns=["labels_version"])["labels_version"]
        if len(seen) and pc.max(seen).as_py() == version:
            return 0  # no new label since the last run
    target = labels.target or (
        ctx.resolved.stack.training.target if ctx.resolved.stack.training else None
    )
    if target is None:
        raise UserError("monitoring.labels.target is not set and the stack trains no model")
    truth = read_table(path, version=version, columns=[labels.key, target])
    if labels.key not in schema.names:
        raise UserError(
            f"monitoring.labels.key: {cat.qualify(section.table)} has no column {labels.key!r}"
        )
    wanted = [labels.key, section.timestamp, "prediction"]
    wanted += [c for c in ("model_version", PROBABILITY) if c in schema.names]
    scored = read_table(source, columns=wanted)
    joined = scored.join(
        truth.rename_columns([labels.key, "__truth"]), labels.key, join_type="inner"
    )
    if joined.num_rows == 0:
        return 0
    now = datetime.now(UTC)
    joined = joined.append_column("__window", window_starts(joined[section.timestamp], seconds))
    rows = []
    for start in sorted(set(joined["__window"].to_pylist())):
        window = joined.filter(
            pc.equal(joined["__window"], pa.scalar(start, joined["__window"].type))
        )
        for name, part in slices(window):
            y, prediction = _floats(part["__truth"]), _floats(part["prediction"])
            probability = _floats(part[PROBABILITY]) if PROBABILITY in part.column_names else None
            for metric, value in realised(y, probability, prediction).items():
                rows.append(
                    {
                        "window_start": start, "window_end": start + timedelta(seconds=seconds),
                        "slice": name, "metric": metric, "kind": "realised", "value": value,
                        "rows": part.num_rows, "labels_version": version,
                        "source_version": None, "computed_at": now,
                    }
                )  # fmt: skip
    write_table(
        quality_path, pa.Table.from_pylist(rows, QUALITY_SCHEMA), mode="merge", keys=_QUALITY_KEYS
    )
    return len({r["window_start"] for r in rows})


def _floats(column: pa.ChunkedArray) -> npt.NDArray[np.float64]:
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False))


def monitor(ctx: RunContext, *, since: datetime | None = None) -> MonitorResult:
    """Compute the new complete windows of ``monitoring.table`` and apply the breach rule.

    Args:
        since: Start here instead of at the watermark (windows are merged, so recomputing
            one replaces its rows).

    Raises:
        UserError: the baseline is missing, or a watched column is in neither table.
    """
    start_clock = time.perf_counter()
    section = monitoring_section(ctx)
    cat = ctx.catalog
    name = cat.qualify(section.table)
    source = cat.table_path(section.table)
    profile, drift, quality = (
        f"{cat.short(section.table)}_{kind}_metrics" for kind in ("profile", "drift", "quality")
    )
    profile_path, drift_path, quality_path = map(cat.table_path, (profile, drift, quality))
    base_name, base_path, base_version, train_only = _baseline(ctx, section)
    label = f"{base_name} v{base_version}" + (" (train split)" if train_only else "")
    result = MonitorResult(name, label, [], cat.qualify(profile), cat.qualify(drift))
    if not table_exists(source):
        result.note = (
            f"no data: {name} does not exist yet (serve the model with its inference table)"
        )
        result.seconds = time.perf_counter() - start_clock
        return result
    seconds = granularity_seconds(section.granularity)
    source_schema = table_schema(source)
    if section.timestamp not in source_schema.names:
        raise UserError(
            f"monitoring.timestamp: {name} has no column {section.timestamp!r} "
            f"({', '.join(source_schema.names)})"
        )
    base_schema = table_schema(base_path, base_version)
    training = ctx.resolved.stack.training
    result.columns = _columns(
        section, source_schema, base_schema, training.target if training else None
    )
    if not result.columns:
        raise UserError(f"{name} and the baseline {base_name} share no column to monitor")
    baseline = _baseline_summaries(
        ctx, base_name, base_path, base_version, base_schema, result.columns, train_only
    )
    info = table_info(source)
    result.source_version = info.version
    lower = since or _watermark(drift_path)
    # Only complete windows: the one still filling is left for the next run.
    now = int(datetime.now(UTC).timestamp())
    filling = datetime.fromtimestamp(now - now % seconds, UTC)  # the window still filling
    ts = pc.field(section.timestamp)
    condition = ts < pa.scalar(filling, TIMESTAMP)
    if lower is not None:
        condition = condition & (ts >= pa.scalar(lower, TIMESTAMP))
    wanted = [*result.columns, section.timestamp]
    wanted += [c for c in ("model_version", "status", PROBABILITY) if c in source_schema.names]
    for column in section.slices:
        if column not in source_schema.names:
            raise UserError(f"monitoring.slices: {name} has no column {column!r}")
    wanted += section.slices
    rows = read_table(
        source, version=info.version, columns=list(dict.fromkeys(wanted)), filter=condition
    )
    if "status" in rows.column_names:  # failed requests have no inputs to profile
        rows = rows.filter(pc.equal(rows["status"], 200))
    if rows.num_rows == 0:
        result.note = "no new complete window since the last run"
        result.labelled = _realised_quality(
            ctx, section, source, source_schema, quality_path, seconds
        )
        result.seconds = time.perf_counter() - start_clock
        return result
    computed = compute(
        rows,
        timestamp=section.timestamp,
        seconds=seconds,
        columns=result.columns,
        baseline=baseline,
        method=section.drift.method,
        threshold=section.drift.threshold,
        drift_share=section.rule.drift_share,
        source_version=info.version,
        slice_by=section.slices,
        previous=_last_window(ctx, name),
    )
    write_table(
        profile_path, computed.profile, mode="merge", keys=["window_start", "slice", "column"]
    )
    if computed.quality.num_rows:
        write_table(quality_path, computed.quality, mode="merge", keys=_QUALITY_KEYS)
    # The drift table last: its newest window is the watermark.
    write_table(
        drift_path,
        computed.drift,
        mode="merge",
        keys=["window_start", "slice", "column", "against"],
    )
    _keep_last_window(ctx, name, computed.verdicts[-1].start, computed.last)
    result.windows = computed.verdicts
    result.labelled = _realised_quality(ctx, section, source, source_schema, quality_path, seconds)
    first = computed.verdicts[0].start
    history = _recent_verdicts(
        drift_path,
        first - timedelta(seconds=seconds * section.rule.of),
        len(result.columns),
        section.rule.drift_share,
    )
    new = {v.start for v in computed.verdicts}
    found = [
        v
        for v in breaches(history, section.rule.windows, section.rule.of, seconds)
        if v.start in new
    ]
    if found:
        result.breach = found[0]  # where the rule first held: one breach, one action
        result.action = section.on_breach
        _audit_breach(ctx, result, section)
    result.seconds = time.perf_counter() - start_clock
    return result


def _audit_breach(ctx: RunContext, result: MonitorResult, section: MonitoringSection) -> None:
    breach = result.breach
    assert breach is not None  # noqa: S101
    champion = ctx.registry.alias_version(ctx.model, registry.CHAMPION)
    details: dict[str, Any] = {
        "table": result.table,
        "window_start": breach.start.isoformat(),
        "window_end": breach.end.isoformat(),
        "drifted": list(breach.drifted),
        "columns": breach.columns,
        "rule": section.rule.model_dump(),
        "on_breach": section.on_breach,
    }
    rule = section.rule
    reason = (
        f"{len(breach.drifted)} of {breach.columns} columns drifted in the window from "
        f"{breach.start:%Y-%m-%d %H:%M} ({', '.join(breach.drifted)}); at least "
        f"{rule.windows} of the last {rule.of} windows violated (>= {rule.drift_share:.0%} "
        f"of columns drifted): {section.on_breach}"
    )
    ctx.audit(ctx.model, champion, "drift_breach", reason=reason, details=details)
