"""Resume: skip the stages a failed run already completed with the same inputs.

Every completed stage that can be reused is recorded in ``_stage_runs`` under a key: the
stack sections the stage reads, the environment, a hash of the user modules the stack
references (a git sha would miss uncommitted edits), the versions of the packages that
provide stages, and the stage's own inputs (source files' contents and Delta table versions
for data prep, the training table's version for training). `stacks run --resume` asks the
stage to reuse a record whose key matches; the stage checks that what it wrote is still
there as it was left. Changed data changes the key, so the stage runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestacks import __version__
from lakestacks.data.tables import read_table, table_exists, table_info, write_table
from lakestacks.flows.stage import ENTRY_POINT_GROUP, Stage, to_record
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import find_module

__all__ = [
    "STAGE_RUNS_TABLE",
    "code_digest",
    "record",
    "recorded",
    "source_fingerprints",
    "stage_key",
]

STAGE_RUNS_TABLE = "_stage_runs"
_SCHEMA = pa.schema(
    [
        ("at", pa.timestamp("us", tz="UTC")),
        ("env", pa.string()),
        ("stage", pa.string()),
        ("key", pa.string()),
        ("result", pa.string()),
    ]
)
_REF = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*$")


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def code_digest(resolved: ResolvedStack) -> str:
    """A hash of the source of every user module the stack references (``module:name``
    values found in the stack's folder), and of the lakestacks version for built-ins."""
    base = resolved.base_dir.resolve()
    sources: dict[str, str] = {}
    for text in _strings(resolved.stack.model_dump(mode="json")):
        match = _REF.match(text)
        if not match or match.group(1) in sources:
            continue
        spec = find_module(match.group(1), resolved.search_path)
        origin = Path(spec.origin).resolve() if spec and spec.origin else None
        if origin is not None and origin.is_file() and base in origin.parents:
            sources[match.group(1)] = _file_digest(origin)
    return _hash(__version__, sorted(sources.items()))


def _plugin_versions() -> list[tuple[str, str]]:
    """The packages that provide stages, with their versions: an upgrade changes the key."""
    found = set()
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.dist is not None:
            found.add((point.dist.name, point.dist.version))
    return sorted(found)


def stage_key(resolved: ResolvedStack, stage: Stage, inputs: object) -> str:
    """The key of one stage's run: what it reads of the stack, the code, its inputs."""
    document = resolved.stack.model_dump(mode="json")
    sections = {
        name: (
            resolved.extensions[name].model_dump(mode="json")
            if name in resolved.extensions
            else document.get(name)
        )
        for name in stage.sections
    }
    return _hash(
        stage.name,
        resolved.runtime.env,
        sections,
        code_digest(resolved),
        _plugin_versions(),
        inputs,
    )


def source_fingerprints(resolved: ResolvedStack) -> dict[str, Any] | None:
    """What every source holds now: a file's digest, a table's version; None when a source
    cannot be fingerprinted (a remote file), so data prep always runs."""
    cat = resolved.catalog
    fingerprints: dict[str, Any] = {}
    for name, source in resolved.stack.data.sources.items():
        if source.generator is not None:
            fingerprints[name] = "generator"  # its params are in the stack, its code hashed
        elif (
            source.table is not None
            or (source.format or "") == "delta"
            or (source.path is not None and (Path(source.path) / "_delta_log").is_dir())
        ):
            path = cat.table_path(source.table) if source.table else str(source.path)
            pinned = source.version if source.version is not None else source.timestamp
            fingerprints[name] = pinned or (table_info(path).version if table_exists(path) else -1)
        elif source.path is not None and "://" not in source.path:
            fingerprints[name] = _file_digest(Path(source.path))
        else:
            return None
    return fingerprints


def record(resolved: ResolvedStack, stage: str, key: str, result: object) -> None:
    """Remember that ``stage`` completed under ``key`` with ``result``."""
    row = {
        "at": datetime.now(UTC),
        "env": resolved.runtime.env,
        "stage": stage,
        "key": key,
        "result": json.dumps(to_record(result), default=str),
    }
    path = resolved.catalog.table_path(STAGE_RUNS_TABLE)
    write_table(path, pa.Table.from_pylist([row], schema=_SCHEMA), mode="append")


def recorded(resolved: ResolvedStack, stage: str, key: str) -> dict[str, Any] | None:
    """The newest result recorded for ``stage`` under ``key`` in this environment."""
    path = resolved.catalog.table_path(STAGE_RUNS_TABLE)
    if not table_exists(path):
        return None
    import pyarrow.compute as pc

    where = (
        (pc.field("stage") == stage)
        & (pc.field("key") == key)
        & (pc.field("env") == resolved.runtime.env)
    )
    rows = read_table(path, filter=where).to_pylist()
    if not rows:
        return None
    result: dict[str, Any] = json.loads(max(rows, key=lambda r: r["at"])["result"])
    return result
