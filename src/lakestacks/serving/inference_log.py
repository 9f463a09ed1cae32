"""The inference table: scored rows appended to Delta in batches, off the request path.

Requests reserve room in a bounded queue before they are scored; a full queue answers
503, so a response is never sent for a row that cannot be logged. A writer thread appends
what waits when enough rows wait, when enough time has passed, and at close. A failed
write keeps its rows and is retried; what still cannot be written at close is saved to a
Parquet file beside the table, and said so, rather than lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from lakestacks.data.tables import write_table
from lakestacks.serving.config import LogConfig

__all__ = ["META_COLUMNS", "InferenceLog", "LogStats", "rows_table"]

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

    @property
    def waiting(self) -> int:
        """Rows reserved or queued but not yet written."""
        return self._pending_rows + self._reserved

    def start(self) -> None:
        """Start the writer thread."""
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

    def put(self, table: pa.Table, reserved: int) -> None:
        """Queue ``table``'s rows, using ``reserved`` rows of reserved room."""
        with self._lock:
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
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()
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
                closing = self._closing
                self._flush_requested = False
                batch, self._pending = self._pending, []
            ok = self._flush(batch) if batch else True
            retry = 0.0 if ok else min(max(retry * 2, 0.5), 30.0)
            if not closing:
                continue
            if ok:
                return
            failed_at_close += 1
            if failed_at_close >= 3:
                self._spill()
                return
            time.sleep(retry)

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
