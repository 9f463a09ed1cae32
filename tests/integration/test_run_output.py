"""What `stacks run` and `stacks table show` print where stdout is a pipe (CI logs, `| tee`):
a line per stage as it happens, lines never wrapped, wide tables still readable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestacks import api
from lakestacks.cli.main import app

pytestmark = pytest.mark.integration

# Longer than 80 columns once qualified: Rich used to fold it over two lines off a terminal.
LONG = "customer_features_with_a_rather_long_name_that_runs_past_eighty_columns"
WIDE = 38  # columns of the wide table, as in the report

PREP = f"""\
import time
from pathlib import Path

import pyarrow as pa

GO = Path(__file__).with_name("go")


def wait_then_copy(raw):
    # Holds the stage open until the test saw its 'started' line (or 20 s went by).
    deadline = time.monotonic() + 20
    while not GO.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return raw


def widen(raw):
    for i in range({WIDE} - raw.num_columns):
        values = [f"v{{i:02d}}_{{n}}" for n in range(raw.num_rows)]
        raw = raw.append_column(f"c{{i:02d}}", pa.array(values))
    return raw
"""


def project(tmp: Path, function: str, output: str) -> Path:
    """A stack with a CSV source and one prep step, no checks and no split: fast."""
    (tmp / "raw.csv").write_text("id,x\n" + "".join(f"{i},{i % 10}.0\n" for i in range(20)))
    module = f"run_output_{uuid.uuid4().hex[:8]}"  # not another test's `prep`, imported already
    (tmp / f"{module}.py").write_text(PREP)
    stack = tmp / "stack.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: demo
        catalog: main.demo
        data:
          sources:
            raw: {{path: raw.csv}}
          prep: {{function: "{module}:{function}", output: {output}, mode: overwrite}}
        """)
    )
    return stack


def test_run_prints_each_stage_as_it_happens_and_never_wraps(tmp_path: Path) -> None:
    stack = project(tmp_path, "wait_then_copy", LONG)
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakestacks.cli", "run", "data_prep", "-s", str(stack)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().rstrip("\n")
        running = proc.poll() is None  # the stage waits for `go`: the line came meanwhile
        (tmp_path / "go").touch()
        rest, err = proc.communicate(timeout=120)
    finally:
        (tmp_path / "go").touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert first == "stage data_prep started"
    assert running, "the 'started' line arrived only when the run had ended"
    lines = rest.splitlines()
    done = [line for line in lines if line.startswith("stage data_prep ")]
    assert len(done) == 1 and done[0].startswith("stage data_prep done in "), lines
    assert lines.index(done[0]) < lines.index("data_prep (direct runner, env dev)")
    qualified = f"main.demo.{LONG}"
    assert any(qualified in line for line in lines), lines  # whole, on one line
    assert any(line.startswith("time: ") for line in lines)


def test_run_json_keeps_stdout_one_document(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    stack = project(tmp_path, "wait_then_copy", "features")
    done = CliRunner().invoke(app, ["run", "data_prep", "-s", str(stack), "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["flow"] == "data_prep"
    assert "stage data_prep started" in done.stderr


def test_run_summary_off_a_terminal_is_not_wrapped(tmp_path: Path) -> None:
    (tmp_path / "go").touch()
    stack = project(tmp_path, "wait_then_copy", LONG)
    done = CliRunner().invoke(app, ["run", "data_prep", "-s", str(stack)], env={"COLUMNS": None})
    assert done.exit_code == 0, done.output
    assert any(f"main.demo.{LONG}" in line for line in done.stdout.splitlines()), done.stdout


@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    stack = project(tmp_path_factory.mktemp("wide"), "widen", "wide")
    api.run(stack, flow="data_prep", runner="direct")
    return stack


def test_table_show_of_a_wide_table_on_a_terminal_is_vertical(wide: Path) -> None:
    shown = CliRunner().invoke(
        app, ["table", "show", "wide", "-s", str(wide), "--limit", "2"], env={"COLUMNS": "80"}
    )
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "row 2" in lines
    for i in range(WIDE - 2):
        assert any(line.split() == [f"c{i:02d}", f"v{i:02d}_1"] for line in lines), i


def test_table_show_piped_keeps_each_row_on_one_line(wide: Path) -> None:
    shown = CliRunner().invoke(
        app, ["table", "show", "wide", "-s", str(wide), "--limit", "1"], env={"COLUMNS": None}
    )
    assert shown.exit_code == 0, shown.output
    [row] = [line for line in shown.stdout.splitlines() if "v00_0" in line]
    assert "v35_0" in row  # every value of the row, on the row's line


def test_table_show_columns_limits_them(wide: Path) -> None:
    runner = CliRunner()
    args = ["table", "show", "wide", "-s", str(wide), "--columns", "id,c07"]
    shown = runner.invoke(app, args, env={"COLUMNS": "80"})
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.splitlines()[1].split() == ["┃", "id", "┃", "c07", "┃"]  # the header
    assert "v07_19" in shown.stdout and "c08" not in shown.stdout
    as_json = json.loads(runner.invoke(app, [*args, "--json", "--limit", "1"]).stdout)
    assert list(as_json["rows"][0]) == ["id", "c07"]
    unknown = runner.invoke(app, [*args[:-1], "id,nope"])
    assert unknown.exit_code == 2 and "no column nope" in unknown.stderr
    assert "Traceback" not in unknown.output + unknown.stderr
