"""Delta tables: read (with time travel), write (overwrite, append, merge), history.

delta-rs's own errors are caught and re-raised as one clear message naming the table, the
columns and the types; the schema is checked before delta-rs sees the data, so a mismatch
never leaves a half-written commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse
from urllib.request import url2pathname

import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.errors import UserError

__all__ = [
    "SchemaMismatch",
    "SchemaPolicy",
    "TableAppender",
    "TableInfo",
    "TableNotFound",
    "TableWrite",
    "WriteConflict",
    "WriteMode",
    "delta_message",
    "history",
    "open_table",
    "read_table",
    "table_columns",
    "table_exists",
    "table_info",
    "table_schema",
    "write_table",
    "write_tables",
]

WriteMode = Literal["overwrite", "append", "merge"]
SchemaPolicy = Literal["strict", "merge"]


class TableNotFound(UserError):
    """No Delta table (or no such version of it) at a path."""


class SchemaMismatch(UserError):
    """Data whose columns or types do not fit the table under its schema policy."""


class WriteConflict(UserError):
    """Another writer committed to a table meanwhile in a way this write cannot be retried
    over (an overwrite of other data): nothing of this write was committed."""


COMMIT_RETRIES = 5
"""How many times a write whose commit lost a race is tried (appends and merges)."""

_WRITE_KEY = "lakestacks.write"  # a unique id in each commit: which version is ours


@dataclass(frozen=True)
class TableInfo:
    """A table's current state: version, rows and its last write."""

    path: str
    version: int
    rows: int
    last_write: datetime
    operation: str


def _open(path: str, version: int | None = None) -> Any:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        table = DeltaTable(path)
        if version is not None:
            table.load_as_version(version)
        return table
    except TableNotFoundError:
        raise TableNotFound(f"no Delta table at {path}; run data prep to create it") from None
    except Exception as err:  # delta-rs raises a bare Exception for a missing version
        if version is not None:
            raise TableNotFound(
                f"table {path} has no version {version}; see `stacks history`"
            ) from None
        raise UserError(
            f"cannot open Delta table {path}: {delta_message(err)}; its _delta_log is damaged "
            "or unreadable: restore the folder from a backup, or delete it to rebuild the table"
        ) from None


def open_table(path: str, version: int | None = None) -> Any:
    """The ``DeltaTable`` at ``path``; a missing or unreadable one is a ``UserError`` naming it."""
    return _open(path, version)


def delta_message(err: BaseException) -> str:
    """delta-rs's message without the Rust backtrace it appends when ``RUST_BACKTRACE`` is
    set: the first line, which says what is wrong."""
    return str(err).strip().split("\n", 1)[0]


def _dataset(table: Any) -> Any:
    """The table as a pyarrow dataset, read with arrow's own filesystem where it is local.

    delta-rs's default filesystem is a ``PyFileSystem`` over a Python handler, so arrow's
    I/O threads call into Python and take the GIL; a scan leaves some of that work running
    after ``to_table`` returns, and when such a thread asks for the GIL while the
    interpreter finalizes, CPython ends it with ``pthread_exit``, whose unwinding through
    arrow's C++ calls ``std::terminate``: "terminate called without an active exception",
    exit 134, after the output was printed. Arrow's ``LocalFileSystem`` never calls into
    Python. Object-store tables keep delta-rs's handler, which knows their credentials.
    """
    import pyarrow.fs as pafs

    uri = urlparse(str(table.table_uri))
    if uri.scheme != "file":
        return table.to_pyarrow_dataset()
    # Delta file paths are relative to the table root, percent-encoded as on disk.
    root = url2pathname(uri.path).rstrip("/") or "/"
    return table.to_pyarrow_dataset(filesystem=pafs.SubTreeFileSystem(root, pafs.LocalFileSystem()))


def table_exists(path: str) -> bool:
    """Whether a Delta table (its ``_delta_log``) exists at ``path``."""
    from deltalake import DeltaTable

    return bool(DeltaTable.is_deltatable(path))


def table_columns(path: str) -> list[str]:
    """The column names of the Delta table at ``path``, from its log alone (no data read)."""
    return [field.name for field in _open(path).schema().fields]


def table_schema(path: str, version: int | None = None) -> pa.Schema:
    """The Arrow schema of the Delta table at ``path`` (as of ``version``), from its log
    alone (no data read)."""
    return pa.schema(_open(path, version).schema().to_arrow())


def read_table(
    path: str,
    *,
    version: int | None = None,
    timestamp: datetime | str | None = None,
    columns: Sequence[str] | None = None,
    filter: pc.Expression | None = None,  # pyarrow's own name for it
) -> pa.Table:
    """Read a Delta table, optionally as of a version or a time, only the columns asked for.

    Example:
        >>> read_table("/lake/main/churn/t", version=0, columns=["id"])  # doctest: +SKIP
    """
    table = _open(path, version)
    if timestamp is not None:
        when = timestamp if isinstance(timestamp, str) else timestamp.isoformat()
        try:
            table.load_as_version(when)
        except Exception:
            raise TableNotFound(f"table {path} has no version at or before {when}") from None
    if columns is not None:
        missing = sorted(set(columns) - set(pa.schema(table.schema().to_arrow()).names))
        if missing:
            raise UserError(f"table {path} has no column(s) {', '.join(missing)}")
    dataset = _dataset(table)
    names = list(columns) if columns else None
    try:
        return dataset.to_table(columns=names, filter=filter)
    except pa.ArrowNotImplementedError:
        if filter is None:
            raise
        # Files that a delta-rs MERGE wrote keep strings as string_view, and pyarrow cannot
        # push a filter on them down (no string vs string_view kernel): filter after reading.
        rows = dataset.to_table().filter(filter)
        return rows.select(names) if names else rows


def _check_schema(
    path: str, current: pa.Schema, incoming: pa.Schema, policy: SchemaPolicy, mode: WriteMode
) -> None:
    have = {f.name: f.type for f in current}
    new = {f.name: f.type for f in incoming}
    changed = [
        f"{name} ({have[name]} in the table, {kind} in the data)"
        for name, kind in new.items()
        if name in have and not _same_type(have[name], kind)
    ]
    added = [f"{n} ({new[n]})" for n in new if n not in have]
    missing = [f"{n} ({have[n]})" for n in have if n not in new]
    problems = []
    if changed:
        problems.append(f"changed type: {', '.join(changed)}")
    if added and policy == "strict":
        problems.append(f"new column(s): {', '.join(added)}")
    if missing and (policy == "strict" or mode == "overwrite"):
        problems.append(f"missing column(s): {', '.join(missing)}")
    if problems:
        fix = (
            "cast the columns in the prep function to the table's types"
            if changed
            else "set 'schema: merge' on the prep step to admit new columns"
            if policy == "strict"
            else "return every column of the table"
        )
        raise SchemaMismatch(
            f"data does not fit table {path} (schema: {policy}): {'; '.join(problems)}; fix: {fix}"
        )


def _same_type(a: pa.DataType, b: pa.DataType) -> bool:
    # Delta stores one string and one binary type; arrow's large/view variants are the same.
    def norm(t: pa.DataType) -> pa.DataType:
        if pa.types.is_large_string(t) or pa.types.is_string_view(t):
            return pa.string()
        if pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
            return pa.binary()
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz="UTC" if t.tz else None)
        return t

    return bool(norm(a) == norm(b))


@dataclass(frozen=True)
class TableWrite:
    """One table write: where, what, and how (see :func:`write_table` for the fields)."""

    path: str
    data: pa.Table
    mode: WriteMode = "overwrite"
    keys: Sequence[str] = ()
    schema: SchemaPolicy = "strict"
    metadata: Mapping[str, Any] | None = None


def write_table(
    path: str,
    data: pa.Table,
    *,
    mode: WriteMode = "overwrite",
    keys: Sequence[str] = (),
    schema: SchemaPolicy = "strict",
    metadata: Mapping[str, Any] | None = None,
) -> int:
    """Write ``data`` to the Delta table at ``path`` and return the new version.

    Args:
        path: The table's location (a folder or an object-store URI).
        data: The rows to write.
        mode: ``overwrite`` replaces the rows, ``append`` adds them, ``merge`` upserts on
            ``keys``: matching rows are updated, the others inserted.
        keys: Key columns for ``merge``; each key must appear once in ``data``.
        schema: ``strict`` refuses new, missing or retyped columns; ``merge`` admits new
            columns (older rows read them as null).
        metadata: Recorded in the commit, readable in :func:`history`.

    Raises:
        SchemaMismatch: the data does not fit the table under the policy.
        UserError: bad keys, or delta-rs refused the write.

    Example:
        >>> write_table("/t", pa.table({"id": [1]}), mode="merge", keys=["id"])  # doctest: +SKIP
        0
    """
    return write_tables([TableWrite(path, data, mode, keys, schema, metadata)])[0]


def write_tables(
    writes: Sequence[TableWrite], on_commit: Callable[[int, int], None] | None = None
) -> list[int]:
    """Check every write (keys, schema) before making any, then make them in order.

    A bad key or schema in any table leaves every table as it was. Delta has no
    transactions across tables, so a failure of delta-rs itself mid-way can still leave
    the earlier tables written (data prep journals its writes to undo that; see
    :mod:`lakestacks.data.journal`).

    Concurrent writers: an append or a merge whose commit loses a race to another writer is
    tried again (up to :data:`COMMIT_RETRIES` times, with a jittered backoff), a merge
    against the table's new version; an overwrite that loses a race is a
    :class:`WriteConflict`, unless the winner wrote the very rows it meant to write (the
    same fingerprint), when its version is reported instead.

    Args:
        writes: The writes, made in this order.
        on_commit: Called with each write's index and new version once it is committed.

    Returns:
        The new version of each table, in the order of ``writes``.
    """
    exists = [_check_write(w) for w in writes]
    versions = []
    for index, (write, existed) in enumerate(zip(writes, exists, strict=True)):
        versions.append(_write(write, existed))
        if on_commit is not None:
            on_commit(index, versions[-1])
    return versions


class TableAppender:
    """Appends to one Delta table again and again (the inference log, every few seconds).

    ``write_table`` opens the table twice per write, and each open replays the log since
    its last checkpoint: ~70 ms a write, whatever its size, on a table of a few hundred
    commits. An appender opens it once, catches up with other writers' commits
    incrementally, and checks the schema only when the appended schema changes.

    Example:
        >>> appender = TableAppender("/lake/main/churn/inference_log")  # doctest: +SKIP
        >>> appender.append(rows)  # doctest: +SKIP
        12
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._table: Any = None
        self._checked: pa.Schema | None = None  # the last schema found to fit the table

    def append(self, data: pa.Table) -> int:
        """Append ``data`` (new columns are merged in); the version committed.

        Raises:
            SchemaMismatch: a column changed type.
            UserError: delta-rs refused the write (the next append opens the table afresh).
        """
        from deltalake import write_deltalake

        if self._table is None:
            if not table_exists(self.path):
                version = write_table(self.path, data, mode="append", schema="merge")
                self._checked = data.schema
                return version
            self._table = _open(self.path)
        try:
            self._table.update_incremental()
            if self._checked is None or not self._checked.equals(data.schema):
                current = pa.schema(self._table.schema().to_arrow())
                _check_schema(self.path, current, data.schema, "merge", "append")
                self._checked = data.schema
            # A blind append commits over other writers' appends (delta-rs retries the
            # commit at the next version), so no retry loop is needed here.
            write_deltalake(self._table, data, mode="append", schema_mode="merge")
            return int(self._table.version())
        except UserError:
            raise
        except Exception as err:
            self._table = None  # whatever went wrong, the next append starts from the log
            raise UserError(f"writing table {self.path} failed: {delta_message(err)}") from None


def _check_write(write: TableWrite) -> bool:
    """Raise what the write would raise for bad keys or schema; return whether the table exists."""

    if write.mode == "merge":
        _check_keys(write.path, write.data, write.keys)
    exists = table_exists(write.path)
    if exists:
        current = pa.schema(_open(write.path).schema().to_arrow())
        _check_schema(write.path, current, write.data.schema, write.schema, write.mode)
    return exists


def _write(write: TableWrite, exists: bool) -> int:
    from deltalake.exceptions import CommitFailedError

    from lakestacks.data.fingerprint import FINGERPRINT_KEY

    meta = write.metadata or {}
    for attempt in range(1, COMMIT_RETRIES + 1):
        token = uuid.uuid4().hex
        try:
            return _write_once(write, exists, token)
        except CommitFailedError as err:
            last = _last_commit(write.path)
            fingerprint = meta.get(FINGERPRINT_KEY)
            if fingerprint is not None and last.get(FINGERPRINT_KEY) == fingerprint:
                return int(last["version"])  # the other writer committed these very rows
            if write.mode == "overwrite":
                raise _conflict(write.path, last, "this run's overwrite") from None
            if attempt == COMMIT_RETRIES:
                raise _conflict(write.path, last, f"{COMMIT_RETRIES} tries", err) from None
            # An append, or a merge (into the table another writer just created, maybe):
            # check the schema against the new version and make the write again over it.
            exists = _check_write(write)
            time.sleep(random.uniform(0.05, 0.2) * 2 ** (attempt - 1))  # noqa: S311 - jitter
    raise AssertionError("unreachable")  # pragma: no cover


def _conflict(
    path: str, last: Mapping[str, Any], lost: str, err: Exception | None = None
) -> WriteConflict:
    other = f"{last.get('operation', 'a write')} at version {last.get('version')}"
    why = f" ({str(err).splitlines()[0]})" if err is not None else ""
    return WriteConflict(
        f"table {path} was written concurrently by another run ({other}), which {lost} "
        f"cannot be made over{why}; nothing of this write was committed; "
        "fix: re-run once the other run has finished"
    )


def _last_commit(path: str) -> dict[str, Any]:
    """The table's latest commit (its version included), or {} when there is no table."""

    if not table_exists(path):
        return {}
    [last] = _open(path).history(1)
    return dict(last)


def _write_once(write: TableWrite, exists: bool, token: str) -> int:
    """One attempt at the write; the version it committed (the commit carrying ``token``)."""
    from deltalake import CommitProperties, DeltaTable, write_deltalake
    from deltalake.exceptions import CommitFailedError

    path, data, keys, schema = write.path, write.data, write.keys, write.schema
    commit = CommitProperties(
        custom_metadata={
            **{
                k: v if isinstance(v, str) else json.dumps(v, default=str)
                for k, v in (write.metadata or {}).items()
            },
            _WRITE_KEY: token,
        }
    )
    schema_mode: Literal["merge"] | None = "merge" if schema == "merge" and exists else None
    try:
        if write.mode == "merge" and exists:
            predicate = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
            table = DeltaTable(path)
            (
                table.merge(
                    data,
                    predicate,
                    source_alias="s",
                    target_alias="t",
                    merge_schema=schema == "merge",
                    commit_properties=commit,
                )
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
            return int(table.version())  # the merge leaves the object at its own commit
        how: Literal["append", "overwrite"] = "append" if write.mode == "append" else "overwrite"
        if exists:
            table = DeltaTable(path)
            write_deltalake(
                table, data, mode=how, schema_mode=schema_mode, commit_properties=commit
            )
            return int(table.version())  # the write leaves the object at its own commit
        # Writers racing to create a table: delta-rs retries a losing creation as a commit
        # over the winner's, without removing its rows, so both land. On a local lake the
        # creation is serialised, and a writer that finds the table made meanwhile retries
        # as a write to an existing table (an overwrite conflicts, as it should).
        with _creating(path):
            if table_exists(path):
                raise CommitFailedError(f"another writer created {path} first")
            write_deltalake(path, data, mode=how, commit_properties=commit)
    except (UserError, CommitFailedError):
        raise
    except Exception as err:
        raise UserError(f"writing table {path} failed: {type(err).__name__}: {err}") from None
    return _version_of(path, token)


@contextlib.contextmanager
def _creating(path: str) -> Iterator[None]:
    """Hold a lock beside a local table while it is created (flock; nothing on an object
    store, whose conditional put decides instead)."""
    local = _local_path(path)
    if local is None or os.name != "posix":
        yield
        return
    import fcntl

    local.parent.mkdir(parents=True, exist_ok=True)
    with open(local.parent / ".create.lock", "a+b") as handle:  # one per schema folder
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _local_path(path: str) -> Path | None:
    parsed = urlparse(path)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    return Path(path) if "://" not in path else None


def _version_of(path: str, token: str) -> int:
    """The version of the commit carrying ``token`` (a table this write created: another
    writer may have committed since)."""

    table = _open(path)
    for entry in table.history(50):
        if entry.get(_WRITE_KEY) == token:
            return int(entry["version"])
    return int(table.version())  # pragma: no cover - 50 commits since our own


def _check_keys(path: str, data: pa.Table, keys: Sequence[str]) -> None:
    if not keys:
        raise UserError(f"merge into {path} needs key columns")
    missing = [k for k in keys if k not in data.column_names]
    if missing:
        raise SchemaMismatch(f"merge into {path}: key column(s) {', '.join(missing)} not in data")
    for key in keys:
        nulls = data[key].null_count
        if nulls:
            raise UserError(f"merge into {path}: key column {key} has {nulls} null value(s)")
    grouped = data.group_by(list(keys)).aggregate([([], "count_all")])
    dupes = grouped.filter(pc.greater(grouped["count_all"], 1))
    if dupes.num_rows:
        sample = dupes.slice(0, 3).drop_columns(["count_all"]).to_pylist()
        raise UserError(
            f"merge into {path}: {dupes.num_rows} key(s) appear more than once in the data, "
            f"e.g. {sample}; make {', '.join(keys)} unique in the prep output"
        )


def history(path: str, limit: int | None = None) -> list[dict[str, Any]]:
    """The table's commits, newest first: version, time, operation, rows written, metadata."""
    table = _open(path)
    out = []
    for entry in table.history(limit):
        metrics = entry.get("operationMetrics", {})
        rows = metrics.get("num_added_rows", metrics.get("num_output_rows"))
        known = {
            "timestamp",
            "operation",
            "operationParameters",
            "operationMetrics",
            "version",
            "engineInfo",
            "clientVersion",
            "readVersion",
            "isBlindAppend",
            _WRITE_KEY,
        }
        out.append(
            {
                "version": entry.get("version"),
                "timestamp": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC),
                "operation": entry.get("operation"),
                "parameters": entry.get("operationParameters", {}),
                "rows": rows,
                "metadata": {k: v for k, v in entry.items() if k not in known},
            }
        )
    return out


def table_info(path: str) -> TableInfo:
    """Version, row count and last write of the table at ``path``."""
    table = _open(path)
    last = table.history(1)[0]
    return TableInfo(
        path=path,
        version=int(table.version()),
        rows=int(_dataset(table).count_rows()),
        last_write=datetime.fromtimestamp(last["timestamp"] / 1000, UTC),
        operation=str(last.get("operation")),
    )
