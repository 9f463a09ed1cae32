"""What the lifecycle records beside the registry: gate decisions and audit events, as
Delta tables (``_decisions``, ``_audit``) that any engine can query, plus the run context
(stack digest, git sha) stamped on runs and versions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestacks._git import git
from lakestacks.catalog import Catalog
from lakestacks.data.tables import read_table, table_exists, write_table
from lakestacks.spec import ResolvedStack

__all__ = [
    "AUDIT_TABLE",
    "DECISIONS_TABLE",
    "audit",
    "audit_events",
    "git_sha",
    "record_decisions",
    "stack_digest",
]

DECISIONS_TABLE = "_decisions"
AUDIT_TABLE = "_audit"

_DECISIONS_SCHEMA = pa.schema(
    [
        ("decided_at", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("run_id", pa.string()),
        ("gate", pa.string()),
        ("kind", pa.string()),
        ("metric", pa.string()),
        ("observed", pa.float64()),
        ("threshold", pa.float64()),
        ("champion_value", pa.float64()),
        ("champion_version", pa.int64()),
        ("passed", pa.bool_()),
        ("mode", pa.string()),
        ("reason", pa.string()),
    ]
)

_AUDIT_SCHEMA = pa.schema(
    [
        ("at", pa.timestamp("us", tz="UTC")),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("event", pa.string()),
        ("by", pa.string()),
        ("reason", pa.string()),
        ("champion_before", pa.int64()),
        ("champion_after", pa.int64()),
        ("env", pa.string()),
        ("details", pa.string()),
    ]
)


def stack_digest(resolved: ResolvedStack) -> str:
    """sha256 of the stack file's bytes (12 hex digits): which stack file produced a run."""
    return hashlib.sha256(resolved.path.read_bytes()).hexdigest()[:12]


def git_sha(folder: Path) -> str | None:
    """The commit checked out in ``folder``'s repository, or None outside a repository."""
    return git(folder, "rev-parse", "HEAD")


def record_decisions(
    cat: Catalog, model: str, version: int, run_id: str, records: Sequence[Mapping[str, Any]]
) -> int | None:
    """Append gate decisions to ``_decisions``; the table's new version (None if none)."""
    if not records:
        return None
    now = datetime.now(UTC)
    rows = [
        {
            **{k: r.get(k) for k in _DECISIONS_SCHEMA.names},
            "decided_at": now,
            "model": model,
            "version": version,
            "run_id": run_id,
        }
        for r in records
    ]
    table = pa.Table.from_pylist(rows, schema=_DECISIONS_SCHEMA)
    return write_table(cat.table_path(DECISIONS_TABLE), table, mode="append")


def audit(
    cat: Catalog,
    env: str,
    model: str,
    version: int | None,
    event: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    champion_before: int | None = None,
    champion_after: int | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one event (registered, promoted, approved, rolled_back, ...) to ``_audit``."""
    row = {
        "at": datetime.now(UTC),
        "model": model,
        "version": version,
        "event": event,
        "by": by,
        "reason": reason,
        "champion_before": champion_before,
        "champion_after": champion_after,
        "env": env,
        "details": json.dumps(details, default=str) if details else None,
    }
    table = pa.Table.from_pylist([row], schema=_AUDIT_SCHEMA)
    write_table(cat.table_path(AUDIT_TABLE), table, mode="append")


def audit_events(cat: Catalog, model: str, version: int | None = None) -> list[dict[str, Any]]:
    """A model's audit events, oldest first; only one version's when ``version`` is given."""
    path = cat.table_path(AUDIT_TABLE)
    if not table_exists(path):
        return []
    import pyarrow.compute as pc

    where = pc.field("model") == model
    if version is not None:
        where = where & (pc.field("version") == version)
    rows: list[dict[str, Any]] = read_table(path, filter=where).sort_by("at").to_pylist()
    return rows
