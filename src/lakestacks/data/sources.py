"""Read a stack's sources: files (CSV, Parquet, JSON Lines, Delta), tables, generators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestacks.catalog import Catalog
from lakestacks.data.tables import read_table, table_columns
from lakestacks.errors import UserError
from lakestacks.spec._refs import load_ref
from lakestacks.spec.data import Source

__all__ = ["as_arrow", "read_source", "source_columns"]

_FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".json": "json",
            ".jsonl": "json", ".ndjson": "json"}  # fmt: skip


def _format(path: str) -> str:
    if Path(path, "_delta_log").is_dir():
        return "delta"
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise UserError(
            f"cannot tell the format of source {path}: add 'format: csv|parquet|json|delta'"
        )
    return _FORMATS[suffix]


def read_source(
    name: str, source: Source, catalog: Catalog, search_path: Sequence[str]
) -> pa.Table:
    """Read one source into an Arrow table.

    Example:
        >>> read_source("raw", Source(path="/data/raw.csv"), catalog, [])  # doctest: +SKIP
    """
    if source.generator is not None:
        function = load_ref(source.generator, search_path)
        return as_arrow(function(**source.params), f"generator {source.generator}")
    if source.table is not None:
        return read_table(
            catalog.table_path(source.table), version=source.version, timestamp=source.timestamp
        )
    assert source.path is not None  # the spec guarantees one kind  # noqa: S101
    path = source.path
    kind = source.format or _format(path)
    if kind == "delta":
        return read_table(path, version=source.version, timestamp=source.timestamp)
    if "://" not in path and not Path(path).exists():
        raise UserError(f"source {name!r}: file not found: {path}")
    try:
        if kind == "csv":
            import pyarrow.csv as pcsv

            return pcsv.read_csv(path)
        if kind == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.json as pjson

        return pjson.read_json(path)
    except pa.ArrowInvalid as err:
        raise UserError(f"source {name!r}: cannot read {kind} file {path}: {err}") from None


def source_columns(source: Source, catalog: Catalog) -> list[str] | None:
    """The columns a source holds, from its schema where the format keeps one (Parquet, Delta)
    or its first block (CSV); None for a generator, whose columns only running it tells."""
    if source.generator is not None:
        return None
    if source.table is not None:
        return table_columns(catalog.table_path(source.table))
    assert source.path is not None  # the spec guarantees one kind  # noqa: S101
    path = source.path
    kind = source.format or _format(path)
    if kind == "delta":
        return table_columns(path)
    if "://" not in path and not Path(path).exists():
        return None
    try:
        if kind == "csv":
            import pyarrow.csv as pcsv

            with pcsv.open_csv(path) as reader:
                return list(reader.schema.names)
        if kind == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(path).names)
        import pyarrow.json as pjson

        return list(pjson.read_json(path).column_names)
    except pa.ArrowInvalid:
        return None  # the run says what is wrong with the file


def as_arrow(value: Any, what: str) -> pa.Table:
    """A pyarrow Table from what a user function returned: Arrow, polars or pandas."""
    if isinstance(value, pa.Table):
        return value
    if hasattr(value, "to_arrow"):  # polars
        return as_arrow(value.to_arrow(), what)
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value)
    if type(value).__module__.startswith("pandas"):
        return pa.Table.from_pandas(value, preserve_index=False)
    raise UserError(
        f"{what} returned {type(value).__name__}; return a pyarrow Table, a polars or a pandas "
        "DataFrame"
    )
