"""Data prep's records (issue 15, findings 4, 5, 6 and 8) on real Delta tables and real runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pyarrow.compute as pc
import pytest
from typer.testing import CliRunner

from lakestacks import api
from lakestacks.cli.main import app
from lakestacks.data.tables import history, read_table, table_info
from lakestacks.flows.stage import SummaryTable
from lakestacks.flows.stages.data_prep import DataPrep
from tests.integration.test_data_prep import lake_table, project

pytestmark = pytest.mark.integration

LABELLED_PREP = """\
def build(raw):
    return raw


def no_label(raw):
    return raw.drop_columns(["label"])


def no_id(raw):
    return raw.drop_columns(["id"])
"""


def labelled(tmp: Path, function: str) -> Path:
    """A stack whose prep output is the training table, merged on ``id`` with schema merge."""
    lines = ["id,x,label"] + [f"{i},{i % 10}.0,{i % 2}" for i in range(40)]
    (tmp / "raw.csv").write_text("\n".join(lines) + "\n")
    (tmp / "labelled_prep.py").write_text(LABELLED_PREP)
    stack = tmp / "stack.yaml"
    stack.write_text(
        textwrap.dedent(f"""\
        version: 1
        name: demo
        catalog: main.demo
        data:
          sources:
            raw: {{path: raw.csv}}
          prep: {{function: "labelled_prep:{function}", output: features, mode: merge,
                  keys: [id], schema: merge}}
          split: {{by: id, test: 0.2, validation: 0.1, seed: 1}}
        training:
          model: lakestacks.training.tabular:MLPClassifier
          target: label
        """)
    )
    return stack


def test_quarantine_rows_name_their_failed_checks_and_run_and_are_appended_once(
    tmp_path: Path,
) -> None:
    stack = project(tmp_path, mode="dry_run", bad=3)
    first = api.run(stack, flow="data_prep", runner="direct").data_prep
    second = api.run(stack, flow="data_prep", runner="direct").data_prep
    assert first is not None and second is not None
    quarantine = read_table(lake_table(stack, "features__quarantine"))
    assert quarantine.num_rows == 3  # not 6: the same bad rows are kept once
    assert quarantine["_failed_checks"].to_pylist() == [["column_values_to_be_between on x"]] * 3
    runs = read_table(lake_table(stack, "_validations"))["run_id"].to_pylist()
    assert set(quarantine["_run_id"].to_pylist()) <= set(runs)
    assert second.quarantined == {}  # nothing new was appended
    project(tmp_path, mode="dry_run", bad=4)  # one more bad row: only it is appended
    api.run(stack, flow="data_prep", runner="direct")
    assert read_table(lake_table(stack, "features__quarantine")).num_rows == 4


def test_prep_output_without_the_target_or_a_key_is_a_data_error(tmp_path: Path) -> None:
    runner = CliRunner()
    stack = labelled(tmp_path, "build")
    command = ["run", "data_prep", "-s", str(stack), "--runner", "direct"]
    assert runner.invoke(app, command).exit_code == 0
    for function, missing in (("no_label", "label"), ("no_id", "id")):
        labelled(tmp_path, function)
        result = runner.invoke(app, command)
        message = " ".join(result.stderr.split())
        assert result.exit_code == 2, result.output
        assert f"labelled_prep:{function}" in message and "features" in message
        assert f"missing {missing}" in message
        returned = [c for c in ("id", "x", "label") if c != missing]
        assert f"returned {', '.join(returned)}" in message
        assert "Traceback" not in result.output
        assert table_info(lake_table(stack, "features")).version == 0  # nothing written
        assert table_info(lake_table(stack, "raw")).version == 0


def test_unchanged_sources_and_prep_outputs_are_not_recommitted(tmp_path: Path) -> None:
    stack = project(tmp_path)
    first = api.run(stack, flow="data_prep", runner="direct").data_prep
    again = api.run(stack, flow="data_prep", runner="direct").data_prep
    assert first is not None and again is not None
    assert first.wrote == again.wrote == {"main.demo.raw": 0, "main.demo.features": 0}
    assert [h["version"] for h in history(lake_table(stack, "raw"))] == [0]
    assert table_info(lake_table(stack, "features")).version == 0
    versions = read_table(lake_table(stack, "_validations"))["table_version"].to_pylist()
    assert versions == [0, 0, 0, 0]  # each run validated what version 0 holds
    project(tmp_path, rows=120)  # changed data is committed
    changed = api.run(stack, flow="data_prep", runner="direct").data_prep
    assert changed is not None
    assert changed.wrote == {"main.demo.raw": 1, "main.demo.features": 1}
    assert read_table(lake_table(stack, "features")).num_rows == 120


def test_data_gate_message_says_what_was_written_and_summary_names_the_failures(
    tmp_path: Path,
) -> None:
    stack = project(tmp_path, bad=3)
    result = CliRunner().invoke(app, ["run", "data_prep", "-s", str(stack), "--runner", "direct"])
    message = "".join(result.stderr.split())  # ignore wrapping
    assert result.exit_code == 2
    assert "notablewaswritten" not in message
    assert "main.demo.features__quarantine" in message and "main.demo._validations" in message
    [page] = list((tmp_path / ".lake" / "_reports" / "data_docs").glob("*/*.html"))  # not index
    assert str(page).replace(" ", "") in message
    dry = project(tmp_path, mode="dry_run", bad=3)
    prep = api.run(dry, flow="data_prep", runner="direct").data_prep
    assert prep is not None
    [table, *lines] = DataPrep().summary(prep)
    assert isinstance(table, SummaryTable)
    [features] = [row for row in table.rows if row[0] == "main.demo.features"]
    assert "column_values_to_be_between" in features[-1]
    assert any(prep.docs[0] in str(line) for line in lines)
    assert pc.sum(read_table(lake_table(dry, "features__quarantine"))["x"]).as_py() == -15.0
