"""Deterministic hash splits: a row's split depends only on its key and the seed.

So a row keeps its split across reruns, merges and appends, and adding rows never moves
old ones. The split is stored with the rows, in the ``_split`` column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.data.tables import read_table
from lakestacks.errors import UserError

__all__ = ["SPLITS", "SPLIT_COLUMN", "assign_split", "read_split", "split_counts"]

SPLIT_COLUMN = "_split"
SPLITS = ("train", "validation", "test")


def _mix(values: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads any 64-bit input uniformly over 64 bits."""
    z = values.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _unit_hash(keys: pa.ChunkedArray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per key, stable across processes and machines."""
    import pandas as pd

    if keys.null_count:
        raise UserError(f"the split key has {keys.null_count} null value(s); a key must be set")
    values = keys.to_numpy()
    # pandas' hash_array is stable across runs (SipHash for objects, a fixed mix for numbers)
    hashed = pd.util.hash_array(values, hash_key="lakestacks-split", categorize=False)
    salt = _mix(np.array([seed + 0x9E3779B97F4A7C15], dtype=np.uint64))[0]
    mixed = _mix(hashed ^ salt)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def assign_split(table: pa.Table, by: str, test: float, validation: float, seed: int) -> pa.Table:
    """Return ``table`` with a ``_split`` column: ``train``, ``validation`` or ``test``.

    Example:
        >>> t = assign_split(pa.table({"id": list(range(1000))}), "id", 0.2, 0.1, seed=7)
        >>> sorted(set(t["_split"].to_pylist()))
        ['test', 'train', 'validation']
    """
    if by not in table.column_names:
        raise UserError(
            f"split key {by!r} is not a column of the table; columns: "
            f"{', '.join(table.column_names)}"
        )
    u = _unit_hash(table[by], seed)
    labels = np.where(u < test, "test", np.where(u < test + validation, "validation", "train"))
    column = pa.array(labels, pa.string())
    if SPLIT_COLUMN in table.column_names:
        table = table.drop_columns([SPLIT_COLUMN])
    return table.append_column(SPLIT_COLUMN, column)


def split_counts(table: pa.Table) -> dict[str, int]:
    """Rows per split, for the record of the split."""
    counts = pc.value_counts(table[SPLIT_COLUMN]).to_pylist()
    found = {c["values"]: c["counts"] for c in counts}
    return {name: int(found.get(name, 0)) for name in SPLITS}


def read_split(
    table_path: str,
    split: str,
    columns: Sequence[str] | None = None,
    version: int | None = None,
) -> pa.Table:
    """Rows of one split (``train``, ``validation`` or ``test``) of a split table.

    Only ``columns`` are returned (all when ``None``); the split column is read for the
    filter only.

    Example:
        >>> read_split("/lake/churn/customers", "test", ["tenure", "churned"])  # doctest: +SKIP
    """
    wanted = None if columns is None else list(dict.fromkeys(columns))
    table = read_table(
        table_path,
        version=version,
        columns=None if wanted is None else list(dict.fromkeys([*wanted, SPLIT_COLUMN])),
        filter=pc.field(SPLIT_COLUMN) == split,
    )
    return table.select(wanted) if wanted is not None else table
