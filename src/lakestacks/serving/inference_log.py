"""The inference table: scored rows appended to Delta in batches, off the request path.

Requests reserve room in a bounded queue before they are scored; a full queue answers
503, so a response is never sent for a row that cannot be logged. A writer thread appends
what waits when enough rows wait, when enough time has passed, and at close. A failed
write keeps its rows and is retried. With ``durability: wal`` a request's rows
are in a fsync'd write-ahead file before it is answered, and what a crash or a failed last
write leaves there is replayed at the next start; with ``buffered`` (the default) what still
cannot be written at close is saved to a Parquet file beside the table, and a crash loses
the rows of the last ``flush_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from lakestacks.data.tables import TableAppender, write_table
from lakestacks.serving.config import LogConfig
from lakestacks.serving.wal import WriteAheadLog, replay_orphans

__all__ = [
    "META_COLUMNS",
    "InferenceLog",
    "LogEntry",
    "LogStats",
    "log_entry",
    "recover",
    "rows_table",
    "wal_root",
]

log = logging.getLogger("lakestacks.serving")

# The columns every row carries besides the features and the model's outputs.
META_FIELDS = (
    pa.field("request_id", pa.string()),
    pa.field("endpoint", pa.string()),
    pa.field("model_name", pa.string()),
    pa.field("model_version", pa.int64()),
    pa.field("arm", pa.string()),
    pa.field("status", pa.int32()),
    pa.field("error", pa.string()),
    pa.field("latency_ms", pa.float64()),
    pa.field("timestamp", pa.timestamp("us", tz="UTC")),
)
META_COLUMNS = tuple(f.name for f in META_FIELDS)
# Queued entries are built into Arrow this many at a time, on the event loop (~3 ms).
_BLOCK_ENTRIES = 256


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One request's rows as the request left them; their Arrow columns are built for many
    requests at once (:func:`rows_table`, 256 entries at a time), not per request.

    Attributes:
        features: The parsed request (None for a request that failed before it was parsed).
        outputs: The model's output columns, one value per row (None when it failed).
        meta: The values of :data:`META_COLUMNS`, in order.
        rows: Its rows in the table.
        nbytes: What it may hold in memory: the request body's size, which its rows do not
            outgrow (the queue's byte bound counts this, not Arrow's sizes, which cost a walk
            over every buffer to sum).
    """

    features: pa.Table | None
    outputs: Mapping[str, npt.NDArray[Any]] | None
    meta: tuple[object, ...]
    rows: int
    nbytes: int


def log_entry(
    features: pa.Table | None,
    outputs: Mapping[str, npt.NDArray[Any]] | None,
    meta: Mapping[str, object],
    rows: int,
    nbytes: int,
) -> LogEntry:
    """An entry of ``rows`` rows; ``meta`` maps :data:`META_COLUMNS` (absent ones are null)."""
    return LogEntry(features, outputs, tuple(meta.get(f.name) for f in META_FIELDS), rows, nbytes)


def rows_table(pieces: Sequence[LogEntry | pa.Table]) -> pa.Table:
    """One row per logged input row: features, outputs, then each request's metadata.

    Consecutive entries of one shape (the same input schema and output columns) become one
    block, each column built once; blocks of other shapes, and tables a write-ahead commit
    already built, are concatenated with their schemas merged.
    """
    blocks: list[pa.Table] = []
    group: list[LogEntry] = []
    for piece in pieces:
        if isinstance(piece, pa.Table):
            if group:
                blocks.append(_block(group))
                group = []
            blocks.append(piece)
        elif group and not _same_shape(group[-1], piece):
            blocks.append(_block(group))
            group = [piece]
        else:
            group.append(piece)
    if group:
        blocks.append(_block(group))
    if len(blocks) == 1:
        return blocks[0]
    table = pa.concat_tables(blocks, promote_options="permissive")
    # Delta writes a table of many small chunks slowly (~80 us a chunk); one copy is cheaper.
    return pa.Table.from_batches([pa.concat_batches(table.to_batches())])


def _same_shape(a: LogEntry, b: LogEntry) -> bool:
    if (a.features is None) != (b.features is None) or (a.outputs is None) != (b.outputs is None):
        return False
    if a.features is not None and b.features is not None:
        if not a.features.schema.equals(b.features.schema):
            return False
    return a.outputs is None or b.outputs is None or a.outputs.keys() == b.outputs.keys()


def _block(group: list[LogEntry]) -> pa.Table:
    arrays: dict[str, pa.Array] = {}
    first = group[0]
    if first.features is not None:
        # One batch from many small ones: concat_batches lets go of the GIL while it copies,
        # where combine_chunks on a table of 1-row chunks held it for ~40 ms at a time,
        # stalling every request in flight.
        batches = [b for e in group if e.features is not None for b in e.features.to_batches()]
        features = pa.concat_batches(batches)
        arrays.update(zip(features.schema.names, features.columns, strict=True))
    for name in first.outputs or {}:
        values = np.concatenate([np.asarray(e.outputs[name]) for e in group if e.outputs])
        arrays[name] = _output_array(values)
    counts = [e.rows for e in group]
    repeat = None if all(c == 1 for c in counts) else np.repeat(np.arange(len(group)), counts)
    for i, f in enumerate(META_FIELDS):
        column = pa.array([e.meta[i] for e in group], f.type)
        arrays[f.name] = column if repeat is None else column.take(repeat)
    return pa.table(arrays)


def _output_array(values: npt.NDArray[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # objects Arrow cannot type: their text
        return pa.array([str(v) for v in values])


@dataclass(frozen=True)
class LogStats:
    """What the log has done so far."""

    table: str
    rows_written: int
    writes: int
    version: int | None
    waiting: int
    failed_writes: int
    spilled: str | None
    recovered: int = 0  # rows a crashed server left in the write-ahead log, written at start
    durability: str = "buffered"


def wal_root(config: LogConfig) -> Path:
    """Where the servers of an inference table keep their write-ahead folders: beside a local
    table, else under the user's state folder (an object store cannot fsync)."""
    if config.wal_dir:
        return Path(config.wal_dir)
    if "://" not in config.path:
        path = Path(config.path)
        return path.parent / f"_{path.name}_wal"
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(config.path.encode()).hexdigest()[:16]
    return state / "lakestacks" / "wal" / digest


def recover(config: LogConfig, write: Callable[[str, pa.Table], int] | None = None) -> int:
    """Write what crashed servers left in the table's write-ahead folders (``stacks serve
    --recover``); returns the rows recovered."""
    append = write or _append
    return replay_orphans(wal_root(config), lambda table: append(config.path, table))


@dataclass(frozen=True, slots=True)
class _Pending:
    piece: LogEntry | pa.Table  # a table when a write-ahead commit built it already
    rows: int
    nbytes: int


class InferenceLog:
    """A bounded queue of inference rows and the thread that appends them to Delta."""

    def __init__(
        self, config: LogConfig, write: Callable[[str, pa.Table], int] | None = None
    ) -> None:
        self.config = config
        self._write = write or _appender(config.path)
        self._lock = threading.Condition()
        # Each piece with its rows and bytes, so that nothing is summed over Arrow buffers
        # while the lock is held (the event loop takes it to reserve room).
        self._pending: list[_Pending] = []
        self._pending_rows = 0
        self._pending_bytes = 0
        self._loose = 0  # entries at the queue's end not yet built into Arrow
        self._reserved = 0
        self._closing = False
        self._flush_requested = False
        self._thread: threading.Thread | None = None
        self.rows_written = 0
        self.writes = 0
        self.failed_writes = 0
        self.version: int | None = None
        self.spilled: str | None = None
        self.recovered = 0
        self._wal = (
            WriteAheadLog(wal_root(config), rows_table, self._durable)
            if config.durability == "wal"
            else None
        )

    @property
    def waiting(self) -> int:
        """Rows reserved or queued but not yet written."""
        return self._pending_rows + self._reserved

    def start(self) -> None:
        """Replay what a crashed server left, then start the writer (and write-ahead) threads."""
        if self._wal is not None or wal_root(self.config).is_dir():  # wal now, or before
            self.recovered = recover(self.config, self._write)
        if self._wal is not None:
            self._wal.start()
        self._thread = threading.Thread(target=self._run, name="stacks-inference-log", daemon=True)
        self._thread.start()

    def reserve(self, rows: int) -> bool:
        """Hold room for ``rows``; False when the queue is full, in rows or in bytes (answer
        503): a request's rows are bounded by the body limit, so the bytes stay bounded too."""
        with self._lock:
            if (
                self._closing
                or self.waiting + rows > self.config.queue_rows
                or self._pending_bytes >= self.config.queue_bytes
            ):
                return False
            self._reserved += rows
            return True

    def release(self, rows: int) -> None:
        """Give back room reserved for rows that will not be logged after all."""
        with self._lock:
            self._reserved -= rows

    def put(self, entry: LogEntry) -> asyncio.Future[None] | None:
        """Queue an entry's rows, in the room :meth:`reserve` held for them.

        With a write-ahead log this returns a future (call from the event loop): await it
        before answering, and the rows survive a crash from then on.
        """
        if self._wal is not None:
            return self._wal.append(entry)
        self._enqueue([_Pending(entry, entry.rows, entry.nbytes)])
        return None

    def _durable(self, table: pa.Table, rows: int) -> None:
        self._enqueue([_Pending(table, rows, table.nbytes)])

    def _enqueue(self, items: Sequence[_Pending]) -> None:
        with self._lock:
            for item in items:
                self._reserved -= item.rows
                self._pending.append(item)
                self._pending_rows += item.rows
                self._pending_bytes += item.nbytes
                self._loose = self._loose + 1 if isinstance(item.piece, LogEntry) else 0
            if self._loose >= _BLOCK_ENTRIES:
                self._seal_loose()
            if self._pending_rows >= self.config.flush_rows:
                self._lock.notify()

    def _seal_loose(self) -> None:
        """Turn the queue's last entries into one Arrow block (call with the lock held).

        This runs on the event loop, a few milliseconds per block: built all at once on the
        writer's thread, thousands of entries held the GIL in small slices for ~100 ms, and
        every request waited on it (p99 30x p50 under load).
        """
        tail = self._pending[-self._loose :]
        table = rows_table([item.piece for item in tail])
        rows, nbytes = sum(i.rows for i in tail), sum(i.nbytes for i in tail)
        self._pending[-self._loose :] = [_Pending(table, rows, nbytes)]
        self._loose = 0

    def flush_now(self) -> None:
        """Write what is queued now, not at the next interval (a shutdown has begun)."""
        with self._lock:
            self._flush_requested = True
            self._lock.notify()

    def close(self) -> LogStats:
        """Write everything queued, then stop the writer (graceful shutdown)."""
        if self._wal is not None:
            self._wal.stop()  # what it committed is queued for the table now
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()
        if self._wal is not None:
            self._wal.close(everything_written=self.waiting == 0)
        return self.stats()

    def stats(self) -> LogStats:
        """Rows written, writes, the table version, rows waiting."""
        return LogStats(
            self.config.table,
            self.rows_written,
            self.writes,
            self.version,
            self.waiting,
            self.failed_writes,
            self.spilled,
            self.recovered,
            self.config.durability,
        )

    def _run(self) -> None:
        retry, failed_at_close = 0.0, 0
        while True:
            with self._lock:
                deadline = time.monotonic() + max(self.config.flush_seconds, retry)
                while (
                    not self._closing
                    and not self._flush_requested
                    and self._pending_rows < self.config.flush_rows
                    and (remaining := deadline - time.monotonic()) > 0
                ):
                    self._lock.wait(remaining)
            batch, sealed, closing = self._take()
            ok = self._flush(batch) if batch else True
            if ok and self._wal is not None:
                self._wal.written(sealed)
            retry = 0.0 if ok else min(max(retry * 2, 0.5), 30.0)
            if not closing:
                continue
            if ok:
                return
            failed_at_close += 1
            if failed_at_close >= 3:
                if self._wal is None:
                    self._spill()
                else:  # the rows stay in the write-ahead folder, replayed at the next start
                    log.error(
                        "inference table %s could not be written; %d rows stay in %s and are "
                        "written at the next start (or `stacks serve --recover`)",
                        self.config.table, self.waiting, self._wal.folder,
                    )  # fmt: skip
                return
            time.sleep(retry)

    def _take(self) -> tuple[list[_Pending], list[Path], bool]:
        """The queued rows, the write-ahead segments that hold them, and whether closing.

        The segment rotates as the batch is taken (both locks held, so no commit falls
        between), so the sealed segments hold exactly the rows taken now and those of any
        earlier failed write, which went back to the queue's front.
        """
        with self._wal.lock if self._wal is not None else contextlib.nullcontext(), self._lock:
            closing = self._closing
            self._flush_requested = False
            batch, self._pending = self._pending, []
            self._loose = 0
            if self._wal is None:
                return batch, [], closing
            if batch:
                self._wal.rotate()
            return batch, list(self._wal.sealed), closing

    def _flush(self, batch: list[_Pending]) -> bool:
        try:
            table = rows_table([item.piece for item in batch])
            self.version = self._write(self.config.path, table)
        except Exception as err:
            self.failed_writes += 1
            log.warning("inference table %s: write failed, will retry: %s", self.config.table, err)
            with self._lock:
                self._pending[:0] = batch  # keep order; nothing is dropped
            return False
        rows, nbytes = sum(i.rows for i in batch), sum(i.nbytes for i in batch)
        with self._lock:
            self._pending_rows -= rows
            self._pending_bytes -= nbytes
        self.rows_written += table.num_rows
        self.writes += 1
        return True

    def _spill(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._pending_rows = self._pending_bytes = 0
        if not batch:
            return
        table = rows_table([item.piece for item in batch])
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        path = (
            Path(self.config.path).parent
            / f"_{Path(self.config.path).name}_unwritten_{stamp}.parquet"
        )
        pq.write_table(table, path)
        self.spilled = str(path)
        log.error(
            "inference table %s could not be written; %d rows saved to %s",
            self.config.table, table.num_rows, path,
        )  # fmt: skip


def _append(path: str, table: pa.Table) -> int:
    return write_table(path, table, mode="append", schema="merge")


def _appender(path: str) -> Callable[[str, pa.Table], int]:
    appender = TableAppender(path)
    return lambda _, table: appender.append(table)
