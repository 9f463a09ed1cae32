"""The monitoring page, written from the metric tables (``stacks monitor --report``)."""

from __future__ import annotations

from pathlib import Path

from lakestacks.data.tables import read_table, table_exists
from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext
from lakestacks.flows.monitoring import monitoring_section
from lakestacks.monitoring.windows import DRIFT_SCHEMA, PROFILE_SCHEMA, QUALITY_SCHEMA

__all__ = ["write_report"]


def write_report(ctx: RunContext) -> Path:
    """Draw the monitoring page from the metric tables into ``<lake>/_reports/`` and return
    its path (``stacks monitor --report``).

    Raises:
        UserError: the lake is not a local folder (the page is a local file).
    """
    from lakestacks.flows._records import audit_events
    from lakestacks.monitoring.report import render

    section = monitoring_section(ctx)
    cat = ctx.catalog
    if "://" in cat.lake:
        raise UserError(f"the monitoring page is written to a local lake; {cat.lake} is not one")
    short = cat.short(section.table)
    tables = {}
    for kind, schema in (
        ("profile", PROFILE_SCHEMA),
        ("drift", DRIFT_SCHEMA),
        ("quality", QUALITY_SCHEMA),
    ):
        path = cat.table_path(f"{short}_{kind}_metrics")
        tables[kind] = read_table(path) if table_exists(path) else schema.empty_table()
    breaches = [e for e in audit_events(cat, ctx.model) if e["event"] == "drift_breach"]
    base = cat.qualify(section.baseline) if section.baseline else "the champion's train split"
    page = render(
        table=cat.qualify(section.table),
        baseline=base,
        profile=tables["profile"],
        drift=tables["drift"],
        breaches=breaches,
        quality=tables["quality"],
    )
    folder = Path(cat.lake) / "_reports"
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"monitoring-{short}.html"
    tmp = out.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)  # a reader never sees half a page
    return out
