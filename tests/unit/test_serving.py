"""The serving layer's pure parts: the scoring protocol, tokens, rate limits, the log's queue."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest

from lakestacks.serving.config import LogConfig, TokenConfig, hash_token
from lakestacks.serving.inference_log import InferenceLog, LogEntry, log_entry, rows_table
from lakestacks.serving.protocol import (
    NULLS_REFUSED,
    BadRequest,
    UnsupportedMediaType,
    parse_body,
)
from lakestacks.serving.security import Denied, RateLimiter, Tokens
from lakestacks.spec.deployment import ServingSpec, ServingToken

SCHEMA = pa.schema(
    [
        pa.field("tenure", pa.int64(), nullable=False),
        pa.field("charges", pa.float64(), nullable=False),
        pa.field("contract", pa.string(), nullable=False),
        pa.field("note", pa.string(), nullable=True),  # optional in the signature
    ]
)
JSON = "application/json"


_RECORDS = (
    '[{"tenure": 1, "charges": 2.5, "contract": "a"}, {"tenure": 2, "charges": 3, "contract": "b"}]'
)
_FLOAT_INTS = _RECORDS.replace('"tenure": 2,', '"tenure": 2.0,')
_SPLIT = '{"columns": ["tenure", "charges", "contract"], "data": [[1, 2.5, "a"], [2, 3, "b"]]}'


@pytest.mark.parametrize(
    "body",
    [
        f'{{"dataframe_split": {_SPLIT}}}'.encode(),
        f'{{"dataframe_records": {_RECORDS}}}'.encode(),
        f'{{"instances": {_FLOAT_INTS}}}'.encode(),  # 2.0 is an integer
        b'{"inputs": {"tenure": [1, 2], "charges": [2.5, 3.0], "contract": ["a", "b"]}}',
        b'{"inputs": [[1, 2.5, "a", null], [2, 3, "b", null]], "params": {"k": 1}}',
    ],
)
def test_every_json_format_gives_the_same_typed_table(body: bytes) -> None:
    table = parse_body(body, JSON + "; charset=utf-8", SCHEMA).table
    assert table.schema.types == [pa.int64(), pa.float64(), pa.string(), pa.string()]
    assert table.to_pydict() == {
        "tenure": [1, 2], "charges": [2.5, 3.0], "contract": ["a", "b"], "note": [None, None]
    }  # fmt: skip


def test_csv_is_typed_by_the_signature() -> None:
    table = parse_body(b"tenure,charges,contract,extra\n1,2.5,a,x\n", "text/csv", SCHEMA).table
    assert table.column_names == ["tenure", "charges", "contract", "note"]
    assert table["tenure"].type == pa.int64()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"inputs": {"tenure": [1, 2.5], "charges": [1, 1], "contract": ["a", "b"]}}',
         "column 'tenure', row 1: expected an integer, got 2.5"),
        (b'{"inputs": {"tenure": [true], "charges": [1], "contract": ["a"]}}',
         "column 'tenure', row 0: expected an integer, got True"),
        (b'{"inputs": {"tenure": [1], "charges": ["x"], "contract": ["a"]}}',
         "column 'charges', row 0: expected a number, got 'x'"),
        (b'{"inputs": {"tenure": [1], "contract": ["a"]}}', "missing column 'charges'"),
        (b'{"inputs": {"tenure": [1, 2], "charges": [1], "contract": ["a"]}}', "different lengths"),
        (b'{"dataframe_split": {"columns": ["tenure"], "data": [[1, 2]]}}',
         "dataframe_split.data[0] has 2 values for 1 columns"),
        (b'{"inputs": [1, 2]}', "must be a list of objects"),
        (b'{"inputs": {}, "instances": []}', "found instances, inputs"),
        (b'{"inputs": {"tenure": [1]}, "params": 3}', "'params' must be a JSON object"),
        (b"[1]", "the body is a JSON list"),
        (b"{", "not valid JSON"),
    ],
)  # fmt: skip
def test_bad_bodies_name_the_field(body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_body(body, JSON, SCHEMA)
    assert message in str(caught.value)


def test_a_model_that_refuses_nulls_answers_400_naming_column_and_row() -> None:
    """Issue 16, item 4: with NULLS_REFUSED a required column needs a value in every row; an
    optional one may be null or left out. Without it (older models) nulls pass as before."""
    strict = SCHEMA.with_metadata({NULLS_REFUSED: b"true"})
    nulls = b'{"dataframe_records": [{"tenure": 1, "charges": 2.5, "contract": "a"}, ' \
        b'{"tenure": 2, "charges": null, "contract": null}]}'  # fmt: skip
    with pytest.raises(BadRequest) as caught:
        parse_body(nulls, JSON, strict)
    assert str(caught.value) == (
        "column 'charges', row 1: null, but the model needs a value (it had none missing in "
        "training)"
    )
    with pytest.raises(BadRequest, match="column 'tenure', row 0: null"):
        parse_body(b"tenure,charges,contract\n,1.5,a\n", "text/csv", strict)
    table = parse_body(
        b'{"inputs": {"tenure": [1], "charges": [1.5], "contract": ["a"], "note": [null]}}',
        JSON,
        strict,
    ).table
    assert table["note"].null_count == 1
    assert parse_body(nulls, JSON, SCHEMA).table["charges"].null_count == 1


def test_content_types() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_body(b"x", "text/plain", SCHEMA)
    with pytest.raises(UnsupportedMediaType, match="UTF-8"):
        parse_body(b"{}", "application/json; charset=latin-1", SCHEMA)
    with pytest.raises(BadRequest, match="CSV conversion error to int64"):
        parse_body(b"tenure,charges,contract\nten,1,a\n", "text/csv", SCHEMA)
    # Without a signature the columns are taken as they come.
    assert parse_body(b'{"inputs": {"x": [1.5]}}', JSON, None).table.num_rows == 1


def test_tokens_401_403_and_scope() -> None:
    fraud = bytes.fromhex(hash_token("token-of-the-fraud-team"))
    tokens = Tokens(
        [
            TokenConfig("ci", bytes.fromhex(hash_token("token-of-the-ci-job")), None, None),
            TokenConfig("fraud", fraud, frozenset({"fraud"}), None),
        ]
    )
    assert tokens.check("Bearer token-of-the-ci-job", "churn") is not None
    assert tokens.check("bearer token-of-the-fraud-team", "fraud").name == "fraud"  # type: ignore[union-attr]
    for header in (None, "", "Basic abc", "Bearer ", "Bearer token-of-the-ci-jo"):
        with pytest.raises(Denied) as denied:
            tokens.check(header, "churn")
        assert denied.value.status == 401
    with pytest.raises(Denied) as denied:
        tokens.check("Bearer token-of-the-fraud-team", "churn")
    assert denied.value.status == 403
    assert Tokens([]).check(None, "churn") is None


def test_rate_limit_is_a_token_bucket_per_key(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("lakestacks.serving.security.time.monotonic", lambda: now[0])
    limiter = RateLimiter(2.0)
    limiter.check("a")
    limiter.check("a")
    with pytest.raises(Denied) as denied:
        limiter.check("a")
    assert denied.value.status == 429 and denied.value.retry_after == pytest.approx(0.5)
    limiter.check("b")  # another key has its own bucket
    now[0] += 0.5
    limiter.check("a")
    for _ in range(100):
        limiter.check("c", rate=100.0)  # a token's own limit
    RateLimiter(None).check("a")


def test_spec_checks_traffic_and_tokens() -> None:
    with pytest.raises(ValueError, match="add up to 100"):
        ServingSpec(traffic={"champion": 90, "challenger": 20})
    with pytest.raises(ValueError, match="exactly one of 'token' and 'sha256'"):
        ServingToken(name="ci")
    assert ServingSpec().traffic == {"champion": 100.0}


def _log(tmp_path: Path, **changes: object) -> LogConfig:
    base = {"queue_rows": 10, "flush_rows": 100, "flush_seconds": 60.0, "durability": "buffered"}
    base.update(changes)
    return LogConfig(str(tmp_path / "log"), "main.t.log", **base)  # type: ignore[arg-type]


def _rows(n: int) -> LogEntry:
    features = pa.table({"x": list(range(n))})
    return log_entry(features, None, {"status": 200}, n, features.nbytes)


def test_rows_table_builds_each_request_s_rows_in_order() -> None:
    """Entries become Arrow in blocks: features, outputs and metadata line up row by row,
    across shapes (a failed request has neither features nor outputs)."""
    import numpy as np

    def scored(xs: list[int], rid: str) -> LogEntry:
        outputs = {"prediction": np.array([x * 10 for x in xs])}
        return log_entry(
            pa.table({"x": xs}), outputs, {"request_id": rid, "status": 200}, len(xs), 0
        )

    failed = log_entry(None, None, {"request_id": "bad", "status": 400, "error": "no"}, 1, 0)
    table = rows_table([scored([1, 2], "a"), scored([3], "b"), failed, scored([4, 5, 6], "c")])
    assert table.column("x").to_pylist() == [1, 2, 3, None, 4, 5, 6]
    assert table.column("prediction").to_pylist() == [10, 20, 30, None, 40, 50, 60]
    assert table.column("request_id").to_pylist() == ["a", "a", "b", "bad", "c", "c", "c"]
    assert table.column("status").to_pylist() == [200, 200, 200, 400, 200, 200, 200]
    assert table.column("error").to_pylist() == [None, None, None, "no", None, None, None]


def test_entries_built_into_blocks_on_the_way_keep_their_order(tmp_path: Path) -> None:
    """The queue turns its entries into Arrow a block at a time as they arrive: the table
    gets every row once, in arrival order, with each request's own metadata."""
    written: list[pa.Table] = []
    config = _log(tmp_path, queue_rows=10_000, flush_rows=10_000)
    log = InferenceLog(config, lambda path, table: written.append(table) or 0)
    log.start()
    for i in range(700):
        features = pa.table({"x": [i]})
        assert log.reserve(1)
        log.put(log_entry(features, None, {"request_id": f"r{i}", "status": 200}, 1, 64))
    assert log.waiting == 700 and len(log._pending) < 700  # blocks were built meanwhile
    log.close()
    (table,) = written
    assert table.column("x").to_pylist() == list(range(700))
    assert table.column("request_id").to_pylist() == [f"r{i}" for i in range(700)]
    assert table.column("x").num_chunks == 1


def test_log_reserves_room_and_writes_at_close(tmp_path: Path) -> None:
    written: list[int] = []
    log = InferenceLog(_log(tmp_path), lambda path, table: written.append(table.num_rows) or 0)
    log.start()
    assert log.reserve(6) and not log.reserve(5) and log.reserve(4)
    log.put(_rows(6))
    log.release(4)
    assert log.waiting == 6 and written == []  # not flushed: below flush_rows, before 60 s
    stats = log.close()
    assert written == [6] and stats.rows_written == 6 and stats.waiting == 0
    assert not log.reserve(1)  # closed


def test_log_is_bounded_in_bytes_and_flushes_on_request(tmp_path: Path) -> None:
    """Issue 16, items 1 and 2: wide rows fill the queue's bytes before its rows; a shutdown
    asks for a write at once instead of at the next interval."""
    written: list[int] = []
    features = pa.table({"x": ["y" * 10_000] * 2})
    wide = log_entry(features, None, {"status": 200}, 2, features.nbytes)
    config = _log(tmp_path, queue_rows=1_000, queue_bytes=wide.nbytes + 1)
    log = InferenceLog(config, lambda path, table: written.append(table.num_rows) or 0)
    log.start()
    assert log.reserve(2)
    log.put(wide)
    assert log.reserve(2)  # under the byte bound still
    log.put(wide)
    assert not log.reserve(1)  # over it: 503, although 996 rows of room are left
    log.flush_now()  # flush_seconds is 60: only the request writes now
    deadline = time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        time.sleep(0.02)
    assert written == [4]
    assert log.reserve(1)  # written, so the bytes are free again
    log.release(1)
    log.close()


def test_wal_answers_only_after_fsync_and_a_crash_leaves_rows_to_replay(tmp_path: Path) -> None:
    """Issue 16, item 6: put() hands back a future that is done once the rows are fsync'd;
    rows a dead server left are written by the next start, exactly once."""
    import asyncio

    from lakestacks.serving.inference_log import recover, wal_root

    written: list[pa.Table] = []

    def write(path: str, table: pa.Table) -> int:
        written.append(table)
        return len(written)

    config = _log(tmp_path, queue_rows=100, durability="wal")
    crashed = InferenceLog(config, write)
    crashed.start()

    async def answer(n: int) -> None:
        assert crashed.reserve(n)
        durable = crashed.put(_rows(n))
        assert durable is not None
        await durable

    async def serve() -> None:
        await asyncio.gather(answer(3), answer(2), answer(4))

    asyncio.run(serve())
    assert crashed._wal is not None and crashed._wal.fsyncs >= 1
    assert written == []  # flush_seconds is 60: only the write-ahead file holds them
    folder = crashed._wal.folder
    assert sorted(p.name for p in folder.iterdir()) == [".lock", f"{0:012d}.wal"]
    # A crash: the process dies with its lock; a torn record at the end was never answered.
    with (folder / f"{0:012d}.wal").open("ab") as f:
        f.write(b"\x10\x00\x00")
    crashed._wal._lockfile.close()  # type: ignore[union-attr]
    crashed._take = lambda: ([], [], True)  # type: ignore[method-assign]  # its writer dies too
    with crashed._lock:
        crashed._closing = True
        crashed._lock.notify()
    assert crashed._thread is not None
    crashed._thread.join(10)

    fresh = InferenceLog(config, write)
    fresh.start()  # replays the dead server's folder first
    assert fresh.recovered == 9 and sum(t.num_rows for t in written) == 9
    assert not folder.exists()
    fresh.close()
    assert recover(config, write) == 0  # nothing twice
    assert list(wal_root(config).iterdir()) == []


def test_wal_deletes_segments_once_their_rows_are_in_the_table(tmp_path: Path) -> None:
    import asyncio

    written: list[int] = []
    config = _log(tmp_path, queue_rows=100, flush_rows=5, durability="wal")
    log = InferenceLog(config, lambda path, table: written.append(table.num_rows) or 0)
    log.start()

    async def answer() -> None:
        assert log.reserve(5)
        durable = log.put(_rows(5))
        assert durable is not None
        await durable

    asyncio.run(answer())
    deadline = time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        time.sleep(0.02)
    assert written == [5]
    assert log._wal is not None
    deadline = time.monotonic() + 10
    while log._wal.sealed and time.monotonic() < deadline:
        time.sleep(0.02)
    assert list(log._wal.folder.glob("*.wal")) == [log._wal._path(1)]  # only the open one
    stats = log.close()
    assert stats.durability == "wal" and stats.rows_written == 5
    assert not log._wal.folder.exists()


def test_log_retries_a_failed_write_and_spills_at_close(tmp_path: Path) -> None:
    calls: list[int] = []

    def flaky(path: str, table: pa.Table) -> int:
        calls.append(table.num_rows)
        if len(calls) == 1:
            raise OSError("disk hiccup")
        return 7

    log = InferenceLog(_log(tmp_path, flush_rows=3, flush_seconds=0.05), flaky)
    log.start()
    assert log.reserve(3)
    log.put(_rows(3))
    stats = log.close()
    assert calls == [3, 3] and stats.rows_written == 3 and stats.failed_writes == 1

    def broken(path: str, table: pa.Table) -> int:
        raise OSError("gone")

    dead = InferenceLog(_log(tmp_path, flush_seconds=0.05), broken)
    dead.start()
    assert dead.reserve(2)
    dead.put(_rows(2))
    stats = dead.close()
    assert stats.rows_written == 0 and stats.spilled is not None
    assert pa.parquet.read_table(stats.spilled).num_rows == 2  # nothing lost


def test_config_from_the_stack_and_model_refs(monkeypatch: pytest.MonkeyPatch) -> None:
    from lakestacks import api
    from lakestacks.errors import UserError
    from lakestacks.serving import build_config

    resolved = api.load_stack(Path(__file__).parents[2] / "stacks/quickstart.yaml")
    monkeypatch.setenv("STACKS_SERVE_TOKENS", "first-token-from-env, second-token-from-env")
    config = build_config(resolved, port=0)
    (endpoint,) = config.endpoints
    assert endpoint.name == "churn_model" and [a.name for a in endpoint.arms] == ["champion"]
    assert endpoint.arms[0].model == "main.churn.churn_model"
    assert config.log is not None and config.log.table == "main.churn.inference_log"
    assert [t.name for t in config.tokens] == ["env-1", "env-2"]
    assert Tokens(config.tokens).check("Bearer second-token-from-env", "churn_model")
    monkeypatch.setenv("STACKS_SERVE_TOKENS", "short")
    with pytest.raises(UserError, match="shorter than 16"):
        build_config(resolved)
    monkeypatch.delenv("STACKS_SERVE_TOKENS")
    split = build_config(resolved, ["churn_model@champion=75", "churn_model/3=25", "fraud"])
    assert [(a.name, a.version, a.percent) for a in split.endpoints[0].arms] == [
        ("champion", None, 75.0),
        ("v3", 3, 25.0),
    ]
    assert split.endpoints[1].name == "fraud" and split.endpoints[1].arms[0].percent == 100.0
    with pytest.raises(UserError, match="add up to 100"):
        build_config(resolved, ["churn_model@champion", "churn_model@challenger"])
    with pytest.raises(UserError, match="already has an arm champion"):
        build_config(resolved, ["churn_model=50", "churn_model@champion=50"])
