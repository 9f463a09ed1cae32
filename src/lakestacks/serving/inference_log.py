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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakestacks.data.tables import write_table
from lakestacks.serving.config import LogConfig
from lakestacks.serving.wal import WriteAheadLog, replay_orphans

__all__ = ["META_COLUMNS", "InferenceLog", "LogStats", "recover", "rows_table", "wal_root"]

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


def rows_table(
    features: pa.Table | None,
    outputs: dict[str, pa.Array] | None,
    meta: dict[str, object],
    rows: int,
) -> pa.Table:
    """One row per scored input row: features, outputs, then the request's metadata."""
    arrays: dict[str, pa.Array] = {}
    if features is not None:
        arrays.update({n: features[n].combine_chunks() for n in features.column_names})
    arrays.update(outputs or {})
    for f in META_FIELDS:
        arrays[f.name] = pa.array([meta.get(f.name)] * rows, f.type)
    return pa.table(arrays)


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


class InferenceLog:
    """A bounded queue of inference rows and the thread that appends them to Delta."""

    def __init__(
        self, config: LogConfig, write: Callable[[str, pa.Table], int] | None = None
    ) -> None:
        self.config = config
        self._write = write or _append
        self._lock = threading.Condition()
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._pending_bytes = 0
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
            WriteAheadLog(wal_root(config), self._enqueue) if config.durability == "wal" else None
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

    def put(self, table: pa.Table, reserved: int) -> asyncio.Future[None] | None:
        """Queue ``table``'s rows, using ``reserved`` rows of reserved room.

        With a write-ahead log this returns a future (call from the event loop): await it
        before answering, and the rows survive a crash from then on.
        """
        if self._wal is not None:
            return self._wal.append(table, reserved)
        self._enqueue([(table, reserved)])
        return None

    def _enqueue(self, items: Sequence[tuple[pa.Table, int]]) -> None:
        with self._lock:
            for table, reserved in items:
                self._reserved -= reserved
                self._pending.append(table)
                self._pending_rows += table.num_rows
                self._pending_bytes += table.nbytes
            if self._pending_rows >= self.config.flush_rows:
                self._lock.notify()

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

    def _take(self) -> tuple[list[pa.Table], list[Path], bool]:
        """The queued rows, the write-ahead segments that hold them, and whether closing.

        The segment rotates as the batch is taken (both locks held, so no commit falls
        between), so the sealed segments hold exactly the rows taken now and those of any
        earlier failed write, which went back to the queue's front.
        """
        with self._wal.lock if self._wal is not None else contextlib.nullcontext(), self._lock:
            closing = self._closing
            self._flush_requested = False
            batch, self._pending = self._pending, []
            if self._wal is None:
                return batch, [], closing
            if batch:
                self._wal.rotate()
            return batch, list(self._wal.sealed), closing

    def _flush(self, batch: list[pa.Table]) -> bool:
        table = pa.concat_tables(batch, promote_options="permissive")
        try:
            self.version = self._write(self.config.path, table)
        except Exception as err:
            self.failed_writes += 1
            log.warning("inference table %s: write failed, will retry: %s", self.config.table, err)
            with self._lock:
                self._pending[:0] = batch  # keep order; nothing is dropped
            return False
        with self._lock:
            self._pending_rows -= table.num_rows
            self._pending_bytes -= sum(t.nbytes for t in batch)
        self.rows_written += table.num_rows
        self.writes += 1
        return True

    def _spill(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
            self._pending_rows = self._pending_bytes = 0
        if not batch:
            return
        table = pa.concat_tables(batch, promote_options="permissive")
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
