"""The monitoring page: one self-contained HTML file (inline SVG, no script, no request).

Sections: each column's drift statistic per window against its threshold, each numeric
column's window medians and quartiles, each categorical column's top value shares, the
latest window's table, quality per window (estimated from the probabilities, and realised
once labels join), and the breach decisions. Everything comes from the two metric
tables and the audit rows passed in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

import pyarrow as pa

from lakestacks.plots import Series, line_chart

__all__ = ["render"]

_STYLE = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:3px 8px}
th{background:#f4f4f4}.drifted{color:#b00020;font-weight:bold}.ok{color:#1b5e20}
.charts{display:flex;flex-wrap:wrap;gap:12px}.note{color:#666}
"""


def _hours(start: datetime, first: datetime) -> float:
    return (start - first).total_seconds() / 3600.0


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{escape(title)}</h2>{body}</section>'


def _drift_charts(drift: list[dict[str, Any]], first: datetime) -> str:
    drift = [r for r in drift if r["against"] == "baseline"]  # the table keeps both
    charts = []
    for column in sorted({r["column"] for r in drift}):
        rows = sorted((r for r in drift if r["column"] == column), key=lambda r: r["window_start"])
        method = rows[-1]["method"]
        tests = rows[-1]["p_value"] is not None
        value = "p_value" if tests else "statistic"
        slices = sorted({r["slice"] for r in rows})
        series = [
            Series(
                name if len(slices) > 1 else method,
                [
                    (_hours(r["window_start"], first), float(r[value]))
                    for r in rows
                    if r["slice"] == name
                ],
            )
            for name in slices
        ]
        xs = [x for s in series for x, _ in s.points]
        threshold = float(rows[-1]["threshold"])
        series.append(
            Series(
                "threshold",
                [(min(xs), threshold), (max(xs), threshold)],
                dashed=True,
                color="#b00020",
            )
        )
        charts.append(
            line_chart(
                series,
                title=f"{column}: {'p-value' if tests else method} per window",
                x_label="hours since the first window",
                y_label="p-value" if tests else "distance",
                width=520,
                height=300,
            )
        )
    return f'<div class="charts">{"".join(charts)}</div>'


def _profile_charts(profile: list[dict[str, Any]], first: datetime) -> str:
    charts = []
    for column in sorted({r["column"] for r in profile}):
        rows = sorted(
            (r for r in profile if r["column"] == column and r["slice"] == _main_slice(profile)),
            key=lambda r: r["window_start"],
        )
        if not rows:
            continue
        if rows[0]["kind"] == "numeric":
            series = [
                Series(
                    q,
                    [
                        (_hours(r["window_start"], first), float(r[q]))
                        for r in rows
                        if r[q] is not None
                    ],
                    dashed=q != "p50",
                )
                for q in ("p25", "p50", "p75")
            ]
            title, label = f"{column}: median and quartiles per window", column
        else:
            counts = [json.loads(r["top_values"] or "{}") for r in rows]
            top = sorted(
                {k for c in counts for k in c}, key=lambda k: -sum(c.get(k, 0) for c in counts)
            )[:5]
            series = [
                Series(
                    value,
                    [
                        (
                            _hours(r["window_start"], first),
                            c.get(value, 0) / max(r["count"] - r["nulls"], 1),
                        )
                        for r, c in zip(rows, counts, strict=True)
                    ],
                )
                for value in top
            ]
            title, label = f"{column}: share of its top values per window", "share"
        charts.append(
            line_chart(
                series,
                title=title,
                x_label="hours since the first window",
                y_label=label,
                width=520,
                height=300,
            )
        )
    return f'<div class="charts">{"".join(charts)}</div>'


def _main_slice(profile: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in profile:
        counts[r["slice"]] = counts.get(r["slice"], 0) + int(r["count"])
    return max(counts, key=lambda s: counts[s])


def _latest_table(drift: list[dict[str, Any]]) -> str:
    last = max(r["window_start"] for r in drift)
    rows = sorted(
        (r for r in drift if r["window_start"] == last),
        key=lambda r: (r["slice"], r["column"], r["against"]),
    )
    body = "".join(
        "<tr>"
        f"<td>{escape(r['slice'])}</td><td>{escape(r['column'])}</td>"
        f"<td>{escape(r['against'])}</td><td>{escape(r['method'])}</td>"
        f"<td>{r['statistic']:.4g}</td><td>{_p(r['p_value'])}</td>"
        f"<td>{r['threshold']:g}</td><td>{r['rows']:,}</td>"
        f'<td class="{_verdict(r)}">{_verdict(r)}</td>'
        "</tr>"
        for r in rows
    )
    names = "slice column against test statistic p-value threshold rows verdict".split()
    head = "<tr>" + "".join(f"<th>{n}</th>" for n in names) + "</tr>"
    return f"<p>Window from {last:%Y-%m-%d %H:%M} UTC.</p><table>{head}{body}</table>"


def _quality(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return (
            '<p class="note">No quality yet: it is estimated from a classifier\'s '
            "probabilities, and realised once <code>monitoring.labels</code> joins.</p>"
        )
    first = min(r["window_start"] for r in rows)
    charts = []
    for metric in sorted({r["metric"] for r in rows}):
        series = [
            Series(
                kind,
                [
                    (_hours(r["window_start"], first), float(r["value"]))
                    for r in sorted(rows, key=lambda r: r["window_start"])
                    if r["metric"] == metric and r["kind"] == kind
                ],
                dashed=kind == "estimated",
            )
            for kind in ("estimated", "realised")
            if any(r["metric"] == metric and r["kind"] == kind for r in rows)
        ]
        charts.append(
            line_chart(
                series,
                title=f"{metric} per window",
                x_label="hours since the first window",
                y_label=metric,
                width=520,
                height=300,
            )
        )
    return f'<div class="charts">{"".join(charts)}</div>'


def _p(value: float | None) -> str:
    return "" if value is None else format(value, ".3g")


def _verdict(row: dict[str, Any]) -> str:
    return "drifted" if row["drifted"] else "ok"


def _breaches(events: Sequence[dict[str, Any]]) -> str:
    if not events:
        return '<p class="note">No breach so far.</p>'
    body = "".join(
        f"<tr><td>{escape(str(e['at'])[:19])}</td><td>{escape(str(e.get('reason') or ''))}"
        "</td></tr>"
        for e in events
    )
    return f"<table><tr><th>recorded</th><th>decision</th></tr>{body}</table>"


def render(
    *,
    table: str,
    baseline: str,
    profile: pa.Table,
    drift: pa.Table,
    breaches: Sequence[dict[str, Any]],
    quality: pa.Table,
) -> str:
    """The page, as one HTML document."""
    drift_rows = drift.to_pylist()
    profile_rows = profile.to_pylist()
    now = datetime.now(UTC)
    if not drift_rows:
        content = (
            '<p class="note">No window computed yet: run <code>stacks monitor</code> once '
            "traffic is logged.</p>"
        )
        sections = [_section("drift", "Drift per column", content)]
    else:
        first = min(r["window_start"] for r in drift_rows)
        windows = len({r["window_start"] for r in drift_rows})
        sections = [
            _section("drift", "Drift per column over time", _drift_charts(drift_rows, first)),
            _section(
                "distributions", "Distributions per window", _profile_charts(profile_rows, first)
            ),
            _section("latest", "The latest window", _latest_table(drift_rows)),
        ]
        summary = f"{windows} windows from {first:%Y-%m-%d %H:%M} UTC"
        sections.insert(0, f"<p>{escape(summary)}.</p>")
    quality_body = _quality(quality.to_pylist())
    sections.append(_section("quality", "Model quality over time", quality_body))
    sections.append(_section("breaches", "Breach decisions", _breaches(breaches)))
    title = f"Monitoring: {table}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>Against {escape(baseline)}; written {now:%Y-%m-%d %H:%M} UTC.</p>"
        + "".join(sections)
        + "</body></html>"
    )
