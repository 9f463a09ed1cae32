"""Lineage of a model version: what it was trained on, by which run and stack, and every
decision and move since."""

from __future__ import annotations

from typing import Any

import pyarrow.compute as pc

from lakestacks import registry
from lakestacks.catalog import parse_model_ref
from lakestacks.data.tables import read_table, table_exists
from lakestacks.flows._records import DECISIONS_TABLE, audit_events
from lakestacks.flows.context import RunContext
from lakestacks.spec import ResolvedStack

__all__ = ["lineage"]

TAG = registry.TAG


def _decisions(resolved: ResolvedStack, name: str, version: int) -> list[dict[str, Any]]:
    path = resolved.catalog.table_path(DECISIONS_TABLE)
    if not table_exists(path):
        return []
    where = (pc.field("model") == name) & (pc.field("version") == version)
    rows: list[dict[str, Any]] = read_table(path, filter=where).sort_by("decided_at").to_pylist()
    return rows


def lineage(ctx: RunContext, ref: str) -> dict[str, Any]:
    """Lineage of ``NAME/3`` or ``NAME@alias`` (default alias: champion).

    Example:
        >>> lineage(RunContext(resolved), "churn_model@champion")["version"]  # doctest: +SKIP
        2
    """
    resolved, cat, reg = ctx.resolved, ctx.catalog, ctx.registry
    parsed = parse_model_ref(ref)
    name = cat.model_name(parsed.name)
    info = reg.resolve(name, parsed.version, parsed.alias)
    record = info.record
    run = reg.run_record(info.run_id) if info.run_id else None
    approval = {
        key: value
        for key, value in (
            ("mode", record.approval),
            ("by", record.approval_by),
            ("at", record.approval_at),
            ("reason", record.approval_reason),
        )
        if value is not None
    }
    return {
        "model": name,
        "version": info.version,
        "ref": ref,
        "aliases": info.aliases,
        "status": record.status,
        "created": info.created.isoformat(),
        "inputs": record.inputs,
        "run_id": info.run_id,
        "git_sha": record.git_sha,
        "stack_digest": record.stack_digest,
        "env": record.env,
        "metrics": record.metrics,
        "compared_champion": record.compared_champion,
        "demoted_at": record.demoted_at,
        "replaced_by": record.replaced_by,
        "decisions": _decisions(resolved, name, info.version),
        "approval": approval,
        "events": audit_events(cat, name, info.version),
        "params": run["params"] if run else {},
        "source": info.source,
    }
