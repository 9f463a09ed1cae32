"""Hash splits: stable per key across reruns and appends, proportions within tolerance."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lakestacks.data.split import SPLIT_COLUMN, assign_split, split_counts
from lakestacks.errors import UserError


def splits(table: pa.Table) -> dict[object, str]:
    return dict(zip(table["id"].to_pylist(), table[SPLIT_COLUMN].to_pylist(), strict=True))


@pytest.mark.parametrize("keys", [list(range(50_000)), [f"c{i}" for i in range(50_000)]])
def test_proportions_within_tolerance(keys: list[object]) -> None:
    counts = split_counts(assign_split(pa.table({"id": keys}), "id", 0.2, 0.1, seed=7))
    n = len(keys)
    assert abs(counts["test"] / n - 0.2) < 0.01
    assert abs(counts["validation"] / n - 0.1) < 0.01
    assert abs(counts["train"] / n - 0.7) < 0.01


def test_a_row_keeps_its_split_across_reruns_and_appends() -> None:
    first = splits(assign_split(pa.table({"id": list(range(1000))}), "id", 0.2, 0.1, seed=3))
    again = splits(assign_split(pa.table({"id": list(range(1000))}), "id", 0.2, 0.1, seed=3))
    more = pa.table({"id": list(range(5000, 6000)) + list(range(1000))})  # appended, reordered
    appended = splits(assign_split(more, "id", 0.2, 0.1, seed=3))
    assert first == again
    assert all(appended[k] == v for k, v in first.items())
    other_seed = splits(assign_split(pa.table({"id": list(range(1000))}), "id", 0.2, 0.1, seed=4))
    assert other_seed != first


def test_null_or_missing_key_is_refused() -> None:
    with pytest.raises(UserError, match="null"):
        assign_split(pa.table({"id": [1, None]}), "id", 0.2, 0.1, seed=0)
    with pytest.raises(UserError, match="not a column"):
        assign_split(pa.table({"id": [1]}), "key", 0.2, 0.1, seed=0)
