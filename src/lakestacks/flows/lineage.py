"""Lineage of a model version: what it was trained on, by which run and stack, and every
decision and move since."""

from __future__ import annotations

import json
from typing import Any

import pyarrow.compute as pc

from lakestacks import registry
from lakestacks.catalog import parse_model_ref
from lakestacks.data.tables import read_table, table_exists
from lakestacks.flows._records import DECISIONS_TABLE, audit_events
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


def lineage(resolved: ResolvedStack, ref: str) -> dict[str, Any]:
    """Lineage of ``NAME/3`` or ``NAME@alias`` (default alias: champion).

    Example:
        >>> lineage(s, "churn_model@champion")["version"]  # doctest: +SKIP
        2
    """
    runtime, cat = resolved.runtime, resolved.catalog
    registry.configure(runtime.tracking_uri, runtime.registry_uri)
    parsed = parse_model_ref(ref)
    name = cat.model_name(parsed.name)
    info = registry.resolve(name, parsed.version, parsed.alias)
    tags = info.tags
    run = registry.run_record(info.run_id) if info.run_id else None
    approval = {
        key: tags[f"{TAG}approval{suffix}"]
        for key, suffix in (("mode", ""), ("by", ".by"), ("at", ".at"), ("reason", ".reason"))
        if f"{TAG}approval{suffix}" in tags
    }
    return {
        "model": name,
        "version": info.version,
        "ref": ref,
        "aliases": info.aliases,
        "status": tags.get(f"{TAG}status"),
        "created": info.created.isoformat(),
        "inputs": json.loads(tags.get(f"{TAG}inputs", "{}")),
        "run_id": info.run_id,
        "git_sha": tags.get(f"{TAG}git_sha"),
        "stack_digest": tags.get(f"{TAG}stack_digest"),
        "env": tags.get(f"{TAG}env"),
        "metrics": json.loads(tags.get(f"{TAG}metrics", "{}")),
        "compared_champion": tags.get(f"{TAG}compared_champion"),
        "decisions": _decisions(resolved, name, info.version),
        "approval": approval,
        "events": audit_events(cat, name, info.version),
        "params": run["params"] if run else {},
        "source": info.source,
    }
