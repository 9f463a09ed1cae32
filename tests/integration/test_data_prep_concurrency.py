"""Data prep under concurrency and crashes (issue 16, item 10), on real Delta tables and real
processes: racing writers retry or get one clear conflict, racing data preps all succeed
with consistent tables, and a data prep killed after its first commit is rolled back."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lakestacks import api
from lakestacks.data.fingerprint import FINGERPRINT_KEY
from lakestacks.data.journal import JOURNAL_DIR, commit_unit, recover
from lakestacks.data.tables import (
    WriteConflict,
    history,
    read_table,
    table_info,
    write_table,
)
from lakestacks.errors import UserError
from tests.integration.test_data_prep import lake_table, project

pytestmark = pytest.mark.integration

RACERS = 3


def rows(ids: list[int], value: float) -> pa.Table:
    return pa.table(
        {"id": pa.array(ids, pa.int64()), "x": pa.array([value] * len(ids), pa.float64())}
    )


def _racer(path: str, kind: str, index: int, barrier: Any, results: Any) -> None:
    """One concurrent writer: wait for the others, then write at the same moment."""
    barrier.wait()
    try:
        if kind == "merge":  # each writer upserts its own keys and one key all share
            data = rows([*range(index * 10, index * 10 + 10), 1000], float(index))
            version = write_table(path, data, mode="merge", keys=["id"])
        elif kind == "append":
            version = write_table(path, rows([index], float(index)), mode="append")
        elif kind == "same":  # the same rows, as a data prep's source overwrite writes them
            meta = {FINGERPRINT_KEY: "same-rows"}
            version = write_table(path, rows([1, 2], 1.0), metadata=meta)
        else:  # each overwrites with its own rows, enough that the writes overlap
            version = write_table(path, rows(list(range(300_000)), float(index)))
        results.put((index, "ok", version))
    except UserError as err:
        results.put((index, type(err).__name__, str(err)))


def race(path: str, kind: str, writers: int = 4) -> list[tuple[int, str, Any]]:
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(writers), spawn.Queue()
    processes = [
        spawn.Process(target=_racer, args=(path, kind, i, barrier, results)) for i in range(writers)
    ]
    for process in processes:
        process.start()
    outcome = sorted(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
    return outcome


def test_racing_merges_and_appends_retry_and_all_land(tmp_path: Path) -> None:
    merged = str(tmp_path / "merged")
    write_table(merged, rows([1000], -1.0))
    outcome = race(merged, "merge")
    assert [status for _, status, _ in outcome] == ["ok"] * 4, outcome
    assert len({version for _, _, version in outcome}) == 4  # each its own commit
    table = read_table(merged)
    assert sorted(table["id"].to_pylist()) == [*range(40), 1000]  # no upsert lost
    assert table_info(merged).version == 4

    appended = str(tmp_path / "appended")
    write_table(appended, rows([-1], -1.0))
    outcome = race(appended, "append")
    assert [status for _, status, _ in outcome] == ["ok"] * 4, outcome
    assert sorted(version for _, _, version in outcome) == [1, 2, 3, 4]  # its own version
    assert sorted(read_table(appended)["id"].to_pylist()) == [-1, 0, 1, 2, 3]


def test_racing_overwrites_conflict_with_one_clear_message_unless_they_agree(
    tmp_path: Path,
) -> None:
    same = str(tmp_path / "same")
    outcome = race(same, "same")  # creating the table, all at once, with the same rows
    assert [status for _, status, _ in outcome] == ["ok"] * 4, outcome
    assert read_table(same).num_rows == 2

    other = str(tmp_path / "other")
    write_table(other, rows([-1], -1.0))
    for _ in range(3):  # overwrites that do not overlap in time are no conflict: race again
        outcome = race(other, "overwrite")
        won = [i for i, status, _ in outcome if status == "ok"]
        lost = [(status, message) for _, status, message in outcome if status != "ok"]
        assert won, outcome
        for status, message in lost:
            assert status == WriteConflict.__name__, message
            assert f"table {other} was written concurrently by another run" in message
            assert "nothing of this write was committed" in message and "\n" not in message
        assert set(read_table(other, columns=["x"])["x"].to_pylist()) <= {float(i) for i in won}
        if lost:
            break
    assert lost, "no overwrite ever overlapped another"


RACING_PREP = '''\
import os
import time
from pathlib import Path

import pyarrow.compute as pc


def build(raw, folder, racers):
    """Wait until every racing data prep got here, so that they commit at once."""
    Path(folder, str(os.getpid())).touch()
    deadline = time.monotonic() + 120
    while len(list(Path(folder).iterdir())) < racers and time.monotonic() < deadline:
        time.sleep(0.02)
    return raw.append_column("x2", pc.multiply(raw["x"], 2.0))
'''


def racing_project(tmp: Path, phase: str, rows: int) -> Path:
    """A stack whose prep step waits for every racer; quarantined rows; a split."""
    lines = ["id,x"] + [f"{i},{-5.0 if i < 3 else float(i % 10)}" for i in range(rows)]
    (tmp / "raw.csv").write_text("\n".join(lines) + "\n")
    (tmp / "racing_prep.py").write_text(RACING_PREP)
    folder = tmp / f"arrived-{phase}"
    folder.mkdir()
    stack = tmp / "stack.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: demo
        catalog: main.demo
        data:
          sources:
            raw: {{path: raw.csv}}
          prep: {{function: "racing_prep:build", output: features, mode: merge, keys: [id],
                  params: {{folder: "{folder}", racers: {RACERS}}}}}
          expectations:
            features:
              mode: dry_run
              checks:
                - {{expect: column_values_to_be_between, column: x, min_value: 0, max_value: 10}}
          split: {{by: id, test: 0.2, validation: 0.1, seed: 1}}
        """)
    )
    return stack


def run_together(stack: Path) -> list[subprocess.CompletedProcess[str]]:
    command = [sys.executable, "-m", "lakestacks.cli", "run", "data_prep", "-s", str(stack)]
    started = [
        subprocess.Popen(
            [*command, "--runner", "direct"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    done = []
    for process in started:
        out, err = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return done


@pytest.mark.slow
def test_three_data_preps_at_once_all_succeed_with_consistent_tables(tmp_path: Path) -> None:
    stack = racing_project(tmp_path, "first", rows=100)  # the tables do not exist yet
    for phase, rows in (("first", 100), ("changed", 120)):
        if phase != "first":
            racing_project(tmp_path, phase, rows=rows)  # new rows: sources and merge rewritten
        done = run_together(stack)
        assert [d.returncode for d in done] == [0] * RACERS, [d.stderr for d in done]
        assert "Traceback" not in "".join(d.stderr for d in done)
        expected = 0 if phase == "first" else 1  # written once, by whichever came first
        assert table_info(lake_table(stack, "raw")).version == expected
        assert table_info(lake_table(stack, "features")).version == expected
        features = read_table(lake_table(stack, "features"))
        assert features.num_rows == rows and features.column("x2") is not None
        assert read_table(lake_table(stack, "raw")).num_rows == rows
    quarantine = read_table(lake_table(stack, "features__quarantine"))
    assert quarantine.num_rows == 3  # the same bad rows, quarantined once by six runs
    validations = read_table(lake_table(stack, "_validations"))
    assert validations.num_rows == 2 * RACERS  # every run's checks recorded
    assert sorted(set(validations["table_version"].to_pylist())) == [0, 1]
    assert list((tmp_path / ".lake" / JOURNAL_DIR).glob("*.json")) == []


def _data_prep_killed_after_raw(stack: Path) -> None:
    """`stacks run data_prep`, SIGKILLed right after it committed main.demo.raw."""
    killed = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", "run", "data_prep", "-s", str(stack),
         "--runner", "direct"],
        env={**os.environ, "LAKESTACKS_FAULT_KILL_AFTER_COMMIT": "main.demo.raw"},
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr


def test_data_prep_killed_after_its_first_commit_is_rolled_back_by_the_next_run(
    tmp_path: Path,
) -> None:
    stack = project(tmp_path, mode="dry_run", bad=3)
    api.run(stack, flow="data_prep", runner="direct")  # every table at version 0
    project(tmp_path, mode="dry_run", bad=4, rows=120)  # new rows: every table is rewritten
    _data_prep_killed_after_raw(stack)
    # The crash left the unit half-written: raw committed, the rest at their old versions.
    assert table_info(lake_table(stack, "raw")).version == 1
    assert table_info(lake_table(stack, "features")).version == 0
    [journal] = (tmp_path / ".lake" / JOURNAL_DIR).glob("data_prep-*.json")

    [line] = recover(str(tmp_path / ".lake"))  # what the next run does first
    run_id = journal.stem.removeprefix("data_prep-")
    assert f"data prep run {run_id} (process " in line
    assert "was interrupted after committing main.demo.raw;" in line
    assert "main.demo.raw: restored it to v0" in line
    assert not journal.exists()
    assert [h["operation"] for h in history(lake_table(stack, "raw"))][:2] == ["RESTORE", "WRITE"]
    assert read_table(lake_table(stack, "raw")).num_rows == 100  # as version 0 held
    assert recover(str(tmp_path / ".lake")) == []  # once

    prep = api.run(stack, flow="data_prep", runner="direct").data_prep
    assert prep is not None
    # Consistent again: every table holds the new rows, each written once by this run.
    assert prep.wrote == {"main.demo.raw": 3, "main.demo.features": 1}
    assert read_table(lake_table(stack, "raw")).num_rows == 120
    assert read_table(lake_table(stack, "features")).num_rows == 120
    assert read_table(lake_table(stack, "features__quarantine")).num_rows == 4
    validations = read_table(lake_table(stack, "_validations"))
    assert sorted(validations["table_version"].to_pylist()) == [0, 0, 1, 1]  # no dead run's


def test_next_data_prep_reports_the_rollback_and_keeps_unchanged_data_unchanged(
    tmp_path: Path,
) -> None:
    stack = project(tmp_path)
    api.run(stack, flow="data_prep", runner="direct")
    project(tmp_path, rows=120)
    _data_prep_killed_after_raw(stack)
    project(tmp_path)  # back to the rows version 0 holds
    prep = api.run(stack, flow="data_prep", runner="direct").data_prep
    assert prep is not None
    [line] = prep.recovered
    assert "after committing main.demo.raw; main.demo.raw: restored it to v0" in line
    # The restore kept version 0's fingerprint: the same rows are not committed again.
    assert set(prep.unchanged) == {"main.demo.raw", "main.demo.features"}
    assert prep.wrote == {"main.demo.raw": 2, "main.demo.features": 0}


def test_a_unit_that_fails_after_its_first_commit_rolls_itself_back(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    first, second, created = (str(lake / name) for name in ("first", "second", "created"))
    write_table(first, rows([1], 1.0))
    write_table(second, rows([1], 1.0))
    tables = {"first": first, "second": second, "created": created}
    with pytest.raises(WriteConflict) as raised, commit_unit(str(lake), tables) as unit:
        write_table(first, rows([2], 2.0), metadata=unit.tag)
        write_table(created, rows([2], 2.0), metadata=unit.tag)
        write_table(second, rows([3], 3.0))  # another writer, not the unit
        raise WriteConflict("table second was written concurrently by another run")
    message = str(raised.value)
    assert message.startswith("table second was written concurrently")
    assert "failed after committing first, created" in message
    assert "first: restored it to v0" in message and "created: removed it" in message
    assert read_table(first)["id"].to_pylist() == [1]
    assert not (lake / "created").exists()
    assert read_table(second)["id"].to_pylist() == [3]  # not the unit's: left alone
    assert list((lake / JOURNAL_DIR).glob("*.json")) == []


def test_an_object_store_lake_keeps_no_journal() -> None:
    assert recover("s3://bucket/lake") == []
    with commit_unit("s3://bucket/lake", {"t": "s3://bucket/lake/t"}) as unit:
        assert unit.journal is None and unit.tag  # commits are still tagged
