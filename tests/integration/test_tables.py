"""Delta tables on disk: write modes, merge upserts, time travel, schema policies."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from lakestacks.data.tables import (
    SchemaMismatch,
    TableAppender,
    TableNotFound,
    history,
    read_table,
    table_info,
    write_table,
)
from lakestacks.errors import UserError

pytestmark = pytest.mark.integration


def rows(ids: list[int], values: list[float]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "x": pa.array(values, pa.float64())})


def as_dict(table: pa.Table) -> dict[int, float]:
    return dict(zip(table["id"].to_pylist(), table["x"].to_pylist(), strict=True))


def test_overwrite_append_and_versions(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    assert write_table(path, rows([1, 2], [1.0, 2.0])) == 0
    assert write_table(path, rows([3], [3.0]), mode="append") == 1
    assert as_dict(read_table(path)) == {1: 1.0, 2: 2.0, 3: 3.0}
    assert write_table(path, rows([9], [9.0]), mode="overwrite") == 2
    assert as_dict(read_table(path)) == {9: 9.0}
    info = table_info(path)
    assert (info.version, info.rows) == (2, 1)


def test_merge_updates_matching_rows_and_inserts_new_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(path, rows([1, 2, 3], [1.0, 2.0, 3.0]), mode="merge", keys=["id"])
    version = write_table(path, rows([2, 4], [20.0, 40.0]), mode="merge", keys=["id"])
    assert version == 1
    assert as_dict(read_table(path)) == {1: 1.0, 2: 20.0, 3: 3.0, 4: 40.0}
    assert read_table(path).num_rows == 4


def test_merge_refuses_duplicate_or_null_keys_and_writes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(path, rows([1], [1.0]), mode="merge", keys=["id"])
    with pytest.raises(UserError, match="appear more than once"):
        write_table(path, rows([2, 2], [1.0, 2.0]), mode="merge", keys=["id"])
    nulls = pa.table({"id": pa.array([None], pa.int64()), "x": [1.0]})
    with pytest.raises(UserError, match="null"):
        write_table(path, nulls, mode="merge", keys=["id"])
    assert table_info(path).version == 0


def test_time_travel_by_version_and_timestamp(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(path, rows([1], [1.0]))
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    write_table(path, rows([1], [2.0]), mode="overwrite")
    assert as_dict(read_table(path, version=0)) == {1: 1.0}
    assert as_dict(read_table(path)) == {1: 2.0}
    assert as_dict(read_table(path, timestamp=between)) == {1: 1.0}
    with pytest.raises(TableNotFound, match="no version 7"):
        read_table(path, version=7)
    assert [h["version"] for h in history(path)] == [1, 0]


def test_strict_schema_names_new_missing_and_retyped_columns(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(path, rows([1], [1.0]))
    extra = rows([2], [2.0]).append_column("y", pa.array(["a"]))
    with pytest.raises(SchemaMismatch, match=r"new column\(s\): y \(string\)"):
        write_table(path, extra, mode="append")
    retyped = pa.table({"id": pa.array([2], pa.int64()), "x": pa.array(["two"])})
    with pytest.raises(SchemaMismatch, match=r"x \(double in the table, string in the data\)"):
        write_table(path, retyped, mode="append")
    with pytest.raises(SchemaMismatch, match=r"missing column\(s\): x"):
        write_table(path, pa.table({"id": pa.array([3], pa.int64())}), mode="append")
    assert table_info(path).version == 0


def test_merge_schema_admits_new_columns_but_not_retyped_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    write_table(path, rows([1], [1.0]))
    extra = rows([2], [2.0]).append_column("y", pa.array(["b"]))
    assert write_table(path, extra, mode="append", schema="merge") == 1
    table = read_table(path).sort_by("id")
    assert table["y"].to_pylist() == [None, "b"]
    retyped = pa.table({"id": pa.array([3], pa.int64()), "x": pa.array(["three"])})
    with pytest.raises(SchemaMismatch, match="changed type"):
        write_table(path, retyped, mode="append", schema="merge")
    assert table_info(path).version == 1


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TableNotFound, match="no Delta table"):
        read_table(str(tmp_path / "nope"))


def test_a_merged_table_reads_with_a_filter_on_a_string_column(tmp_path: Path) -> None:
    # delta-rs MERGE writes strings as string_view, which pyarrow cannot filter on in place.
    path = str(tmp_path / "t")
    split = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "s": ["train", "test", "train"]})
    write_table(path, split)
    write_table(path, split, mode="merge", keys=["id"])
    import pyarrow.compute as pc

    got = read_table(path, columns=["id"], filter=pc.field("s").isin(["train"]))
    assert sorted(got["id"].to_pylist()) == [1, 3]
    assert got.schema.names == ["id"]
    assert read_table(path, filter=pc.field("s") == "test")["id"].to_pylist() == [2]


def test_an_appender_keeps_up_with_other_writers_and_checks_a_new_schema(tmp_path: Path) -> None:
    """The inference log's writer: the table opened once, other servers' appends kept,
    a new column merged, a retyped one refused and the table left as it was."""
    path = str(tmp_path / "log")
    ours, theirs = TableAppender(path), TableAppender(path)
    assert ours.append(pa.table({"id": [1, 2]})) == 0  # creates the table
    assert theirs.append(pa.table({"id": [3]})) == 1
    assert ours.append(pa.table({"id": [4]})) == 2  # over the other writer's commit
    write_table(path, pa.table({"id": [5]}), mode="append")
    assert ours.append(pa.table({"id": [6], "extra": ["x"]})) == 4
    with pytest.raises(SchemaMismatch, match="id"):
        ours.append(pa.table({"id": ["seven"]}))
    assert sorted(read_table(path)["id"].to_pylist()) == [1, 2, 3, 4, 5, 6]
    assert read_table(path)["extra"].to_pylist().count("x") == 1
