"""Content fingerprints: of a whole table (to skip rewriting what a table already holds) and
of each row (to append a row to a table once)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pyarrow as pa

__all__ = ["FINGERPRINT_KEY", "last_fingerprint", "row_digests", "table_fingerprint"]

FINGERPRINT_KEY = "lakestacks.fingerprint"
"""The commit-metadata key under which a write records the fingerprint of what it wrote."""


def table_fingerprint(data: pa.Table, **parts: Any) -> str:
    """A sha256 of a table's schema and rows, and of ``parts`` (how it is written).

    Equal data read the same way gives the same fingerprint; the chunking does not matter.
    A different fingerprint for equal data only costs a write that was not needed.

    Example:
        >>> table_fingerprint(pa.table({"id": [1, 2]}), mode="overwrite")[:12]  # doctest: +SKIP
        '4f2d9c0b1e7a'
    """
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, data.schema) as writer:
        for batch in data.combine_chunks().to_batches():
            writer.write_batch(batch)
    digest.update(memoryview(sink.getvalue()))
    return digest.hexdigest()


def row_digests(data: pa.Table) -> pa.Array:
    """One short sha256 per row of its values (column names included), as strings.

    Example:
        >>> row_digests(pa.table({"id": [1, 1]})).to_pylist()[0] == row_digests(
        ...     pa.table({"id": [1]})
        ... ).to_pylist()[0]
        True
    """
    return pa.array(
        [
            hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:32]
            for row in data.to_pylist()
        ],
        pa.string(),
    )


def last_fingerprint(path: str) -> str | None:
    """The fingerprint the last commit of the Delta table at ``path`` recorded under
    :data:`FINGERPRINT_KEY`; None when there is no table or its last commit recorded none.

    Example:
        >>> last_fingerprint("/lake/main/churn/raw")  # doctest: +SKIP
        '4f2d9c0b1e7a...'
    """
    from lakestacks.data.tables import open_table, table_exists

    if not table_exists(path):
        return None
    [last] = open_table(path).history(1)
    value = last.get(FINGERPRINT_KEY)
    return value if isinstance(value, str) else None
