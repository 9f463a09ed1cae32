"""Resume: skip the stages a failed run already completed with the same inputs.

Every completed data prep and training is recorded in ``_stage_runs`` under a key: the
stack file's digest, the environment, a hash of the user modules the stack references (a
git sha would miss uncommitted edits) and the stage's inputs (source files' contents and
Delta table versions for data prep, the training table's version for training). `stacks
run --resume` reuses a record whose key matches and whose outputs are still there as they
were left: tables still at the versions data prep wrote, the trained version still
registered. Changed data changes the key, so the stage runs again.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestacks import __version__, registry
from lakestacks.data.tables import read_table, table_exists, table_info, write_table
from lakestacks.flows._records import stack_digest
from lakestacks.flows.data_prep import DataPrepResult
from lakestacks.flows.training import TrainingResult
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import find_module

__all__ = [
    "STAGE_RUNS_TABLE",
    "code_digest",
    "data_prep_key",
    "record",
    "reuse_data_prep",
    "reuse_training",
    "training_key",
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


def _base(resolved: ResolvedStack) -> list[str]:
    return [stack_digest(resolved), resolved.runtime.env, code_digest(resolved)]


def data_prep_key(resolved: ResolvedStack) -> str | None:
    """The key of a data prep run: the stack, the code, and what every source holds now;
    None when a source cannot be fingerprinted (a remote file), so data prep always runs."""
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
    return _hash(*_base(resolved), fingerprints)


def training_key(resolved: ResolvedStack, inputs: dict[str, int]) -> str:
    """The key of a training run: the stack, the code and the training table's version."""
    return _hash(*_base(resolved), sorted(inputs.items()))


def record(resolved: ResolvedStack, stage: str, key: str | None, result: Any) -> None:
    """Remember that ``stage`` completed under ``key`` with ``result`` (a dataclass)."""
    if key is None:
        return
    row = {
        "at": datetime.now(UTC),
        "env": resolved.runtime.env,
        "stage": stage,
        "key": key,
        "result": json.dumps(asdict(result), default=str),
    }
    path = resolved.catalog.table_path(STAGE_RUNS_TABLE)
    write_table(path, pa.Table.from_pylist([row], schema=_SCHEMA), mode="append")


def _recorded(resolved: ResolvedStack, stage: str, key: str | None) -> dict[str, Any] | None:
    path = resolved.catalog.table_path(STAGE_RUNS_TABLE)
    if key is None or not table_exists(path):
        return None
    rows = read_table(path).to_pylist()
    found = [
        r
        for r in rows
        if r["stage"] == stage and r["key"] == key and r["env"] == resolved.runtime.env
    ]
    if not found:
        return None
    result: dict[str, Any] = json.loads(max(found, key=lambda r: r["at"])["result"])
    return result


def reuse_data_prep(resolved: ResolvedStack, key: str | None) -> DataPrepResult | None:
    """The recorded data prep under ``key``, if every table it wrote is still at the version
    it wrote (nothing has written to them since)."""
    found = _recorded(resolved, "data_prep", key)
    if found is None:
        return None
    cat = resolved.catalog
    for name, version in found["wrote"].items():
        path = cat.table_path(cat.short(name))
        if not table_exists(path) or table_info(path).version != version:
            return None
    return DataPrepResult(**found)


def reuse_training(resolved: ResolvedStack, key: str) -> TrainingResult | None:
    """The recorded training under ``key``, if its version is still registered."""
    found = _recorded(resolved, "training", key)
    if found is None:
        return None
    registry.configure(resolved.runtime.tracking_uri, resolved.runtime.registry_uri)
    try:
        registry.get_version(found["model"], found["version"])
    except registry.ModelNotFound:
        return None
    return TrainingResult(**found)
