"""The data-prep flow end to end on real Delta tables, Great Expectations and Prefect."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from lakestacks import api
from lakestacks.cli.main import app
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_info
from tests.conftest import STACKS

pytestmark = pytest.mark.integration

PREP = """\
import pyarrow as pa
import pyarrow.compute as pc


def build(raw, scale=1.0):
    return raw.append_column("x2", pc.multiply(raw["x"], scale))


def widen(raw):
    return build(raw).append_column("extra", pa.array(["e"] * raw.num_rows))
"""


def project(
    tmp: Path,
    *,
    mode: str = "enforce",
    on_failure: str = "fail",
    function: str = "prep:build",
    schema: str = "strict",
    rows: int = 100,
    bad: int = 0,
) -> Path:
    """A small stack in ``tmp``: a CSV source, one prep step, one suite, a split."""
    lines = ["id,x,kind"]
    for i in range(rows):
        x = -5.0 if i < bad else float(i % 10)
        lines.append(f"{i},{x},{'a' if i % 2 else 'b'}")
    (tmp / "raw.csv").write_text("\n".join(lines) + "\n")
    (tmp / "prep.py").write_text(PREP)
    stack = tmp / "stack.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: demo
        catalog: main.demo
        data:
          sources:
            raw: {{path: raw.csv}}
          prep: {{function: "{function}", output: features, mode: merge, keys: [id],
                  schema: {schema}}}
          expectations:
            features:
              mode: {mode}
              on_failure: {on_failure}
              checks:
                - {{expect: column_values_to_be_between, column: x, min_value: 0, max_value: 10}}
                - {{expect: column_values_to_not_be_null, column: id}}
          split: {{by: id, test: 0.2, validation: 0.1, seed: 1}}
        """)
    )
    return stack


def lake_table(stack: Path, name: str) -> str:
    return str(stack.parent / ".lake" / "main" / "demo" / name)


def test_quickstart_data_prep_writes_tables_and_quarantines_planted_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = STACKS / "quickstart.yaml"
    lake = tmp_path / "lake"
    monkeypatch.setenv("STACKS_TEST_LAKE", str(lake))  # the quickstart's `test` environment
    outcome = api.run(stack, flow="data_prep", env="test", runner="direct")
    prep = outcome.data_prep
    assert prep is not None
    assert prep.wrote == {"main.churn.customers": 0, "main.churn.features": 0}
    features = read_table(str(lake / "main/churn/features"))
    tenure, age = features["tenure"], features["age"]
    assert pc.min(tenure).as_py() >= 0 and pc.max(tenure).as_py() <= 120
    assert pc.min(age).as_py() >= 18 and pc.max(age).as_py() <= 100
    quarantine = read_table(str(lake / "main/churn/features__quarantine"))
    assert quarantine.num_rows == 20_000 - features.num_rows > 0
    assert prep.quarantined == {"main.churn.features__quarantine": quarantine.num_rows}
    counts = prep.split["counts"] if prep.split else {}
    assert abs(counts["test"] / features.num_rows - 0.2) < 0.02
    validations = read_table(str(lake / "main/churn/_validations"))
    assert validations.num_rows == 6
    assert set(validations["table_version"].to_pylist()) == {0}
    assert prep.docs and Path(prep.docs[0]).read_text().count("tenure") > 0
    before = dict(
        zip(features["customer_id"].to_pylist(), features[SPLIT_COLUMN].to_pylist(), strict=True)
    )
    again = api.run(stack, flow="data_prep", env="test", runner="direct").data_prep
    # The generator gives the same rows again: nothing is re-committed (issue 15, finding 4).
    assert again is not None and again.wrote == prep.wrote
    assert set(again.unchanged) == {"main.churn.customers", "main.churn.features"}
    after = read_table(str(lake / "main/churn/features"))
    assert (
        dict(zip(after["customer_id"].to_pylist(), after[SPLIT_COLUMN].to_pylist(), strict=True))
        == before
    )


def test_failing_expectation_keeps_the_table_version_and_quarantines(tmp_path: Path) -> None:
    stack = project(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["run", "data_prep", "-s", str(stack)]).exit_code == 0
    features = lake_table(stack, "features")
    assert table_info(features).version == 0
    bad = project(tmp_path, bad=3)
    result = runner.invoke(app, ["run", "data_prep", "-s", str(bad), "--runner", "direct"])
    assert result.exit_code == 2, result.output
    assert "column_values_to_be_between" in result.stderr
    assert "-5.0" in result.stderr  # the observed bad value in the sample
    assert "Traceback" not in result.output + result.stderr
    assert table_info(features).version == 0
    assert table_info(lake_table(stack, "raw")).version == 0  # nothing half-written
    assert read_table(lake_table(stack, "features__quarantine")).num_rows == 3
    validations = read_table(lake_table(stack, "_validations"))
    failed = validations.filter(pc.invert(validations["success"]))
    assert failed["expectation"].to_pylist() == ["column_values_to_be_between"]
    assert failed["table_version"].to_pylist() == [None]


def test_dry_run_commits_everything_and_records_failures(tmp_path: Path) -> None:
    stack = project(tmp_path, mode="dry_run", bad=4)
    outcome = api.run(stack, flow="data_prep", runner="direct")
    assert outcome.data_prep is not None
    assert read_table(lake_table(stack, "features")).num_rows == 100
    assert read_table(lake_table(stack, "features__quarantine")).num_rows == 4
    [check] = [v for v in outcome.data_prep.validations if v["table"] == "main.demo.features"]
    assert check["success"] is False and check["failed"] == ["column_values_to_be_between"]


def test_drop_commits_passing_rows_only(tmp_path: Path) -> None:
    stack = project(tmp_path, on_failure="drop", bad=5)
    api.run(stack, flow="data_prep", runner="direct")
    assert read_table(lake_table(stack, "features")).num_rows == 95
    assert read_table(lake_table(stack, "features__quarantine")).num_rows == 5


def test_schema_mismatch_in_strict_and_merge_policy(tmp_path: Path) -> None:
    api.run(project(tmp_path), flow="data_prep", runner="direct")
    strict = project(tmp_path, function="prep:widen")
    result = CliRunner().invoke(app, ["run", "data_prep", "-s", str(strict)])
    assert result.exit_code == 2
    assert "new column(s): extra (string)" in result.stderr
    assert "schema: merge" in result.stderr
    assert table_info(lake_table(strict, "features")).version == 0
    assert table_info(lake_table(strict, "raw")).version == 0  # checked before any write
    merged = project(tmp_path, function="prep:widen", schema="merge")
    api.run(merged, flow="data_prep", runner="direct")
    features = read_table(lake_table(merged, "features"))
    assert table_info(lake_table(merged, "features")).version == 1
    assert set(features["extra"].to_pylist()) == {"e"}


def test_tables_show_and_history_commands(tmp_path: Path) -> None:
    stack = project(tmp_path)
    runner = CliRunner()
    runner.invoke(app, ["run", "data_prep", "-s", str(stack)])
    project(tmp_path, rows=120)  # changed data: unchanged data would not be re-committed
    runner.invoke(app, ["run", "data_prep", "-s", str(stack)])
    listed = json.loads(runner.invoke(app, ["tables", "-s", str(stack), "--json"]).stdout)
    by_name = {t["table"]: t for t in listed["tables"]}
    assert by_name["main.demo.features"]["version"] == 1
    assert by_name["main.demo.features"]["rows"] == 120
    assert "main.demo._validations" in by_name
    shown = runner.invoke(
        app,
        ["table", "show", "features", "-s", str(stack), "--version", "0", "--limit", "3", "--json"],
    )
    assert len(json.loads(shown.stdout)["rows"]) == 3
    history = json.loads(
        runner.invoke(app, ["history", "features", "-s", str(stack), "--json"]).stdout
    )["history"]
    assert [h["version"] for h in history] == [1, 0]
    assert history[0]["operation"] == "MERGE"
    missing = runner.invoke(app, ["table", "show", "nope", "-s", str(stack)])
    assert missing.exit_code == 2 and "no table main.demo.nope" in missing.stderr


@pytest.mark.slow
def test_data_prep_runs_as_prefect_tasks_on_a_real_server(tmp_path: Path, prefect_api: str) -> None:
    stack = project(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    result = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", "run", "data_prep", "-s", str(stack), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["runner"] == "prefect"
    assert outcome["data_prep"]["wrote"]["main.demo.features"] == 0
    assert "Traceback" not in result.stderr
    script = """
import asyncio, json
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as client:
        flows = await client.read_flow_runs()
        tasks = await client.read_task_runs()
        print(json.dumps({"flows": [(f.name, f.state_type.value) for f in flows],
                          "tasks": sorted(t.name for t in tasks)}))
asyncio.run(main())
"""
    runs = json.loads(
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert [state for _, state in runs["flows"]] == ["COMPLETED"]
    names = " ".join(runs["tasks"])
    for step in ("ingest raw", "transform features", "validate features", "split", "commit"):
        assert step in names


_NO_FORK_RUN = """
import json, os, sys, threading

def no_fork(*args, **kwargs):
    raise AssertionError("os.fork() called")

os.fork = no_fork  # forking a process with threads can deadlock the child
threading.Thread(target=threading.Event().wait, daemon=True).start()  # as Prefect's runner has
from lakestacks import api

prep = api.run(sys.argv[1], flow="data_prep", runner="direct").data_prep
print(json.dumps({"docs": prep.docs, "gx_here": "great_expectations" in sys.modules}))
"""


def test_data_prep_draws_its_page_in_a_worker_without_forking(tmp_path: Path) -> None:
    stack = project(tmp_path, bad=2, mode="dry_run")
    done = subprocess.run(
        [sys.executable, "-c", _NO_FORK_RUN, str(stack)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["gx_here"] is False  # drawn by the worker, which imported GX instead
    [page] = [Path(p) for p in result["docs"]]
    html = page.read_text(encoding="utf-8")
    assert html.rstrip().endswith("</html>") and "column_values_to_be_between" in html
    assert done.stderr == ""  # nothing of the worker on the console


def test_data_prep_starts_the_page_worker_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    flow = importlib.import_module("lakestacks.flows.data_prep")  # the package's name is the flow
    calls: list[str] = []
    read = flow.ingest
    monkeypatch.setattr(flow, "prepare_data_docs", lambda: calls.append("prepare") or True)
    monkeypatch.setattr(flow, "ingest", lambda *a: calls.append("ingest") or read(*a))
    monkeypatch.setattr(flow, "start_data_docs", lambda reports, folder: [])
    (tmp_path / "on").mkdir()
    api.run(project(tmp_path / "on"), flow="data_prep", runner="direct")
    assert calls == ["prepare", "ingest"]  # its GX import overlaps the whole run
    calls.clear()
    (tmp_path / "off").mkdir()
    api.run(project(tmp_path / "off", mode="'off'"), flow="data_prep", runner="direct")
    assert calls == ["ingest"]  # no suite runs, no page: no worker
