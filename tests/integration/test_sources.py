"""Sources: every file format, Delta tables by name or path at a version, generators."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakestacks.catalog import Catalog
from lakestacks.data.sources import as_arrow, read_source
from lakestacks.data.tables import write_table
from lakestacks.errors import UserError
from lakestacks.spec.data import Source

pytestmark = pytest.mark.integration

TABLE = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"]})


def source(search: str = "", **kwargs: object) -> Source:
    return Source.model_validate(kwargs, context={"search_path": [search]})


def test_csv_parquet_and_json_lines(tmp_path: Path) -> None:
    cat = Catalog("main.t", str(tmp_path / "lake"))
    (tmp_path / "a.csv").write_text("id,name\n1,a\n2,b\n3,c\n")
    pq.write_table(TABLE, tmp_path / "a.parquet")
    (tmp_path / "a.jsonl").write_text(
        '{"id": 1, "name": "a"}\n{"id": 2, "name": "b"}\n{"id": 3, "name": "c"}\n'
    )
    for name in ("a.csv", "a.parquet", "a.jsonl"):
        read = read_source("raw", source(path=str(tmp_path / name)), cat, [])
        assert read.select(["id", "name"]).to_pylist() == TABLE.to_pylist(), name
    forced = read_source("raw", source(path=str(tmp_path / "a.csv"), format="csv"), cat, [])
    assert forced.num_rows == 3
    with pytest.raises(UserError, match="file not found"):
        read_source("raw", source(path=str(tmp_path / "nope.csv")), cat, [])
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(UserError, match="format"):
        read_source("raw", source(path=str(tmp_path / "a.txt")), cat, [])


def test_delta_by_name_and_by_path_at_a_version(tmp_path: Path) -> None:
    cat = Catalog("main.t", str(tmp_path / "lake"))
    path = cat.table_path("customers")
    write_table(path, TABLE)
    write_table(path, TABLE.slice(0, 1), mode="overwrite")
    assert read_source("c", source(table="customers"), cat, []).num_rows == 1
    assert read_source("c", source(table="main.t.customers", version=0), cat, []).num_rows == 3
    assert read_source("c", source(path=path, version=0), cat, []).num_rows == 3


def test_generator_and_user_return_types(tmp_path: Path) -> None:
    (tmp_path / "gen.py").write_text(
        "import pyarrow as pa\n\ndef rows(n=2):\n    return pa.table({'i': list(range(n))})\n"
    )
    cat = Catalog("main.t", str(tmp_path / "lake"))
    read = read_source(
        "g", source(str(tmp_path), generator="gen:rows", params={"n": 4}), cat, [str(tmp_path)]
    )
    assert read["i"].to_pylist() == [0, 1, 2, 3]
    pandas = pytest.importorskip("pandas")
    assert as_arrow(pandas.DataFrame({"x": [1, 2]}), "f").to_pylist() == [{"x": 1}, {"x": 2}]
    with pytest.raises(UserError, match="return a pyarrow Table"):
        as_arrow([1, 2], "prep function f")
