"""Profile and drift of a table's time windows against a baseline, and the breach rule.

:func:`compute` takes the rows of complete windows (the caller reads only what is new) and
returns one profile row and one drift row per window, slice and column: the slice is
``*`` for a table of one model version and ``model_version=N`` per version otherwise, so a
rollout never mixes two models' traffic. :func:`breaches` applies the rule to the windows'
verdicts in time order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.monitoring import quality, stats
from lakestacks.monitoring.reference import ColumnSummary, summarise

__all__ = [
    "DRIFT_SCHEMA",
    "PROFILE_SCHEMA",
    "QUALITY_SCHEMA",
    "TIMESTAMP",
    "Verdict",
    "WindowResult",
    "breaches",
    "compute",
    "decides",
    "judge",
    "slices",
    "value_slices",
    "window_starts",
]

ALL = "*"
VERSION = "model_version"
MAX_SLICE_VALUES = 20

TIMESTAMP = pa.timestamp("us", tz="UTC")
# Every metric row starts with its window and slice and ends with where and when it came from.
_WINDOW = [("window_start", TIMESTAMP), ("window_end", TIMESTAMP), ("slice", pa.string())]
_STAMP = [("source_version", pa.int64()), ("computed_at", TIMESTAMP)]

PROFILE_SCHEMA = pa.schema(
    [
        *_WINDOW,
        ("column", pa.string()),
        ("kind", pa.string()),
        ("count", pa.int64()),
        ("nulls", pa.int64()),
        ("mean", pa.float64()),
        ("std", pa.float64()),
        ("min", pa.float64()),
        ("p25", pa.float64()),
        ("p50", pa.float64()),
        ("p75", pa.float64()),
        ("max", pa.float64()),
        ("top_values", pa.string()),  # JSON: the 10 most frequent values and their counts
        *_STAMP,
    ]
)
DRIFT_SCHEMA = pa.schema(
    [
        *_WINDOW,
        ("column", pa.string()),
        ("against", pa.string()),  # baseline, or previous (the window before)
        ("method", pa.string()),
        ("statistic", pa.float64()),
        ("p_value", pa.float64()),
        ("threshold", pa.float64()),
        ("drifted", pa.bool_()),
        ("rows", pa.int64()),
        ("baseline_rows", pa.int64()),
        *_STAMP,
    ]
)
QUALITY_SCHEMA = pa.schema(
    [
        *_WINDOW,
        ("metric", pa.string()),
        ("kind", pa.string()),  # estimated (from the probabilities) or realised (labels)
        ("value", pa.float64()),
        ("rows", pa.int64()),  # the rows it was measured on (labelled rows, when realised)
        ("labels_version", pa.int64()),
        *_STAMP,
    ]
)
PROBABILITY = "probability"


@dataclass(frozen=True)
class Verdict:
    """A window's verdict: which columns drifted in its worst slice, and whether it violates."""

    start: datetime
    end: datetime
    rows: int
    drifted: tuple[str, ...]
    columns: int
    violates: bool


@dataclass(frozen=True)
class WindowResult:
    """What :func:`compute` found: rows for the two tables and a verdict per window."""

    profile: pa.Table
    drift: pa.Table
    verdicts: list[Verdict]
    quality: pa.Table
    last: dict[str, dict[str, ColumnSummary]]  # the last window's summaries, by slice


def window_starts(times: pa.ChunkedArray | pa.Array, seconds: int) -> pa.Array:
    """Each timestamp's window start (UTC, windows aligned on the epoch)."""
    micros = pc.cast(pc.cast(times, TIMESTAMP), pa.int64())
    step = seconds * 1_000_000
    floored = pc.multiply(pc.divide(micros, step), step)  # integer division
    return pc.cast(floored, TIMESTAMP)


def compute(
    rows: pa.Table,
    *,
    timestamp: str,
    seconds: int,
    columns: Sequence[str],
    baseline: Mapping[str, ColumnSummary],
    method: str = "auto",
    threshold: float | None = None,
    drift_share: float = 0.5,
    source_version: int = 0,
    slice_by: Sequence[str] = (),
    previous: Mapping[str, Mapping[str, ColumnSummary]] | None = None,
) -> WindowResult:
    """Profile and drift per window, slice and column of ``rows`` (complete windows only).

    ``slice_by`` columns add a slice per value (``contract=month``, at most
    :data:`MAX_SLICE_VALUES` per column, the most frequent): profiled and tested, but only
    the whole window (or its model versions) decides the verdict, since a small slice
    drifts by chance more often.

    Each window is also tested against the window before it (``against: previous``), slice
    by slice; ``previous`` holds the summaries of the window before the first one here (a
    run's last window, kept for the next). Only the baseline decides the verdict.
    :attr:`WindowResult.last` holds this run's last window's summaries."""
    now = datetime.now(UTC)
    starts = window_starts(rows[timestamp], seconds)
    rows = rows.append_column("__window", starts)
    profile: list[dict[str, Any]] = []
    drift: list[dict[str, Any]] = []
    estimates: list[dict[str, Any]] = []
    verdicts = []
    last: dict[str, dict[str, ColumnSummary]] = {k: dict(v) for k, v in (previous or {}).items()}
    window_list = sorted(set(pc.unique(starts).to_pylist()))
    for start in window_list:
        # One window is the whole table: no copy of it.
        window = (
            rows
            if len(window_list) == 1
            else rows.filter(pc.equal(rows["__window"], pa.scalar(start, starts.type)))
        )
        end = start + timedelta(seconds=seconds)
        deciding: list[tuple[str, ...]] = []
        parts = [*slices(window), *value_slices(window, slice_by)]
        before, last = last, {}
        for name, part in parts:
            if PROBABILITY in part.column_names:
                p = np.asarray(part[PROBABILITY].to_numpy(zero_copy_only=False), dtype=float)
                for metric, value in quality.estimated(p[np.isfinite(p)]).items():
                    estimates.append(
                        {
                            "window_start": start, "window_end": end, "slice": name,
                            "metric": metric, "kind": "estimated", "value": value,
                            "rows": int(np.isfinite(p).sum()), "source_version": source_version,
                            "computed_at": now,
                        }
                    )  # fmt: skip
            drifted = []
            for column in columns:
                current = summarise(column, part[column])
                last.setdefault(name, {})[column] = current
                profile.append(_profile_row(start, end, name, current, source_version, now))
                comparisons = [("baseline", baseline[column])]
                if (earlier := before.get(name, {}).get(column)) is not None:
                    comparisons.append(("previous", earlier))
                for against, reference in comparisons:
                    found = _drift(reference, current, method, threshold)
                    if found is None:
                        continue
                    drift.append(
                        {
                            "window_start": start, "window_end": end, "slice": name,
                            "column": column, "against": against, "method": found.method,
                            "statistic": found.statistic, "p_value": found.p_value,
                            "threshold": found.threshold, "drifted": found.drifted,
                            "rows": current.rows, "baseline_rows": reference.rows,
                            "source_version": source_version, "computed_at": now,
                        }
                    )  # fmt: skip
                    if found.drifted and against == "baseline":
                        drifted.append(column)
            if decides(name):
                deciding.append(tuple(drifted))
        verdicts.append(judge(start, end, window.num_rows, deciding, len(columns), drift_share))
    return WindowResult(
        pa.Table.from_pylist(profile, PROFILE_SCHEMA),
        pa.Table.from_pylist(drift, DRIFT_SCHEMA),
        verdicts,
        pa.Table.from_pylist(estimates, QUALITY_SCHEMA),
        last,
    )


def decides(slice_name: str) -> bool:
    """Whether a slice's drift counts toward its window's verdict: the whole window or one
    model version does; a slice by value does not (a small slice drifts by chance more
    often)."""
    return slice_name == ALL or slice_name.startswith(f"{VERSION}=")


def judge(
    start: datetime,
    end: datetime,
    rows: int,
    drifted: Iterable[tuple[str, ...]],
    columns: int,
    drift_share: float,
) -> Verdict:
    """A window's verdict from the columns that drifted against the baseline in each of its
    deciding slices: the worst slice's share of the ``columns`` watched."""
    worst = max(drifted, key=len, default=())
    share = len(worst) / columns if columns else 0.0
    return Verdict(start, end, rows, worst, columns, share >= drift_share)


def value_slices(window: pa.Table, by: Sequence[str]) -> list[tuple[str, pa.Table]]:
    """A slice per value of each ``by`` column (nulls as ``column=null``), the most frequent
    :data:`MAX_SLICE_VALUES` of them."""
    out = []
    for column in by:
        counted = pc.value_counts(window[column]).to_pylist()
        counted.sort(key=lambda c: -c["counts"])
        for entry in counted[:MAX_SLICE_VALUES]:
            value = entry["values"]
            if value is None:
                where = pc.is_null(window[column])
            else:
                where = pc.equal(window[column], pa.scalar(value, window[column].type))
            out.append((f"{column}={'null' if value is None else value}", window.filter(where)))
    return out


def slices(window: pa.Table) -> list[tuple[str, pa.Table]]:
    """``*`` for a window of one model version, else one ``model_version=N`` per version."""
    if VERSION not in window.column_names:
        return [(ALL, window)]
    versions = list(pc.unique(window[VERSION]).to_pylist())
    if len(versions) <= 1:
        return [(ALL, window)]
    return [
        (
            f"{VERSION}={v}",
            window.filter(
                pc.is_null(window[VERSION]) if v is None else pc.equal(window[VERSION], v)
            ),
        )
        for v in sorted(versions, key=lambda v: (v is None, v))
    ]


def _profile_row(
    start: datetime,
    end: datetime,
    name: str,
    current: ColumnSummary,
    source_version: int,
    now: datetime,
) -> dict[str, Any]:
    import json

    row: dict[str, Any] = {
        "window_start": start,
        "window_end": end,
        "slice": name,
        "column": current.name,
        "kind": current.kind,
        "count": current.rows + current.nulls,
        "nulls": current.nulls,
        "source_version": source_version,
        "computed_at": now,
    }
    values = current.values
    if current.kind == "numeric" and values.size:
        q = np.quantile(values, [0.25, 0.5, 0.75])
        row |= {
            "mean": current.mean,
            "std": current.std,
            "min": current.minimum,
            "p25": float(q[0]),
            "p50": float(q[1]),
            "p75": float(q[2]),
            "max": current.maximum,
        }
    elif current.kind == "categorical":
        top = sorted(current.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        row["top_values"] = json.dumps(dict(top))
    return row


def _drift(
    reference: ColumnSummary, current: ColumnSummary, method: str, threshold: float | None
) -> stats.Drift | None:
    """The column's drift, or None when either side has no values to compare."""
    if reference.rows == 0 or current.rows == 0:
        return None
    chosen: stats.Method = (
        stats.choose_method(reference.kind, reference.rows, reference.distinct)
        if method == "auto"
        else method  # type: ignore[assignment]
    )
    limit = threshold if threshold is not None else stats.DEFAULT_THRESHOLDS[chosen]
    if reference.kind == "categorical" or chosen in ("chi2", "z", "js"):
        ref_counts = reference.counts or _as_counts(reference)
        cur_counts = current.counts or _as_counts(current)
        if chosen == "psi":
            keys = sorted(set(ref_counts) | set(cur_counts))
            return stats.psi_counts(
                np.array([ref_counts.get(k, 0) for k in keys]),
                np.array([cur_counts.get(k, 0) for k in keys]),
                limit,
            )
        if chosen in ("ks", "wasserstein"):
            chosen = "js"  # a distance on numbers makes no sense for categories
            limit = threshold if threshold is not None else stats.DEFAULT_THRESHOLDS["js"]
        test = {"chi2": stats.chi2, "z": stats.z, "js": stats.js}[chosen]
        return test(ref_counts, cur_counts, limit)
    if chosen == "ks":
        return stats.ks(reference.values, current.values, limit, reference.rows)
    if chosen == "wasserstein":
        return stats.wasserstein(reference.values, current.values, limit)
    return stats.psi(reference.values, current.values, limit)


def _as_counts(summary: ColumnSummary) -> dict[str, int]:
    values, counts = np.unique(summary.values, return_counts=True)
    return {repr(float(v)): int(c) for v, c in zip(values, counts, strict=True)}


def breaches(verdicts: Sequence[Verdict], windows: int, of: int, seconds: int) -> list[Verdict]:
    """The windows at which the rule breaches: the window violates, and at least ``windows``
    of the last ``of`` windows of time (this one included) violate. A window without rows
    has no verdict, so it counts as not violating: no data is never a breach."""
    span = timedelta(seconds=seconds * (of - 1))
    ordered = sorted(verdicts, key=lambda v: v.start)
    return [
        verdict
        for verdict in ordered
        if verdict.violates
        and sum(v.violates for v in ordered if verdict.start - span <= v.start <= verdict.start)
        >= windows
    ]
