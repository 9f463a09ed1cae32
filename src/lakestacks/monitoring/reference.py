"""What a column looks like in the baseline, summarised once and compared with every window.

A numeric column keeps its values when there are few (the small-sample tests need them) and
otherwise a quantile sketch of :data:`SKETCH` points, which KS, Wasserstein and PSI read as
the distribution itself: the full baseline is never held per window. Its mean, standard
deviation and range are exact. A categorical column
keeps its counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["SAMPLE", "SKETCH", "ColumnSummary", "column_kind", "summarise"]

SKETCH = 20_000  # quantiles kept of a large numeric column
SAMPLE = 1_000_000  # values a longer numeric column is sketched from
Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ColumnSummary:
    """One column of a sample: its kind, rows, and values (numeric) or counts (categorical)."""

    name: str
    kind: Kind
    rows: int  # non-null values
    nulls: int
    distinct: int
    values: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    counts: dict[str, int] = field(default_factory=dict)
    # Exact moments and range of a numeric column (``values`` may be a sketch of it).
    mean: float | None = None
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready form (the baseline cache)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "rows": self.rows,
            "nulls": self.nulls,
            "distinct": self.distinct,
            "values": self.values.tolist(),
            "counts": self.counts,
            "moments": [self.mean, self.std, self.minimum, self.maximum],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> ColumnSummary:
        """The summary :meth:`to_record` wrote."""
        return cls(
            record["name"],
            record["kind"],
            int(record["rows"]),
            int(record["nulls"]),
            int(record["distinct"]),
            np.asarray(record["values"], dtype=np.float64),
            {str(k): int(v) for k, v in record["counts"].items()},
            *record.get("moments", [None] * 4),
        )


def column_kind(kind: pa.DataType) -> Kind | None:
    """numeric, categorical, or None for a type drift is not measured on (lists, binary)."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_dictionary(kind)
        or kind == pa.string_view()
    ):
        return "categorical"
    return None


def summarise(name: str, column: pa.ChunkedArray | pa.Array, sketch: int = SKETCH) -> ColumnSummary:
    """Summarise one column (see the module's docstring); None values are counted apart."""
    kind = column_kind(column.type)
    if kind is None:
        raise ValueError(f"column {name!r} is {column.type}: drift is measured on numbers and text")
    nulls = column.null_count
    if kind == "numeric":
        values = np.asarray(
            pc.drop_null(pc.cast(column, pa.float64(), safe=False)).to_numpy(zero_copy_only=False),
            dtype=np.float64,
        )
        values = values[np.isfinite(values)]
        rows = int(values.size)
        moments = (
            (float(values.mean()), float(values.std()), float(values.min()), float(values.max()))
            if rows
            else (None, None, None, None)
        )
        if rows > SAMPLE:
            # The sketch of a long column from a fixed-seed sample: sorting 10 M values per
            # column would dominate a run, and 1 M draws place every one of the sketch's
            # quantiles within ~0.001 of its rank.
            values = np.random.default_rng(0).choice(values, SAMPLE, replace=False)
        values = np.sort(values)
        distinct = int(np.count_nonzero(np.diff(values))) + 1 if values.size else 0
        if values.size > sketch:
            values = np.quantile(values, np.linspace(0.0, 1.0, sketch))
        return ColumnSummary(name, kind, rows, nulls, distinct, values, {}, *moments)
    text = pc.cast(column, pa.string()) if not pa.types.is_string(column.type) else column
    counted = pc.value_counts(pc.drop_null(text))
    counts = {
        str(v): int(c)
        for v, c in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    }
    return ColumnSummary(name, kind, sum(counts.values()), nulls, len(counts), counts=counts)
