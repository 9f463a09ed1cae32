"""`stacks validate --deep`: params against the model's and functions' signatures, columns
against the tables and files that exist (issue 15, finding 9).

Static `validate` runs no user code, so it passes these stacks; `--deep` imports the code and
reads schemas, and reports each problem at its line with a did-you-mean."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app

pytestmark = pytest.mark.integration

_CSV = "id,age,plan,income,churned\n1,31,basic,100.5,0\n2,45,pro,200.0,1\n3,29,basic,90.0,0\n"


def _project(tmp_path: Path, *, params: str, target: str = "churned", column: str = "age") -> Path:
    """A project with a CSV source, a prep function in its own module and the MLP model."""
    module = f"prep_{uuid.uuid4().hex[:8]}"  # a fresh module: the CLI runs in this process
    (tmp_path / "raw.csv").write_text(_CSV, encoding="utf-8")
    (tmp_path / f"{module}.py").write_text(
        "from pathlib import Path\n"
        "Path(__file__).with_suffix('.imported').touch()\n"
        "def build(raw, scale: float = 1.0):\n"
        "    return raw\n",
        encoding="utf-8",
    )
    stack = tmp_path / "stack.yaml"
    stack.write_text(
        f"""version: 1
name: deep
catalog: main.deep
data:
  sources:
    raw: {{path: raw.csv}}
  prep:
    - {{function: "{module}:build", inputs: [raw], output: features, params: {{scale: 2}}}}
  expectations:
    raw:
      - {{expect: column_values_to_not_be_null, column: {column}}}
  split: {{table: raw, by: id, test: 0.3}}
training:
  model: lakestacks.training.tabular:MLPClassifier
  table: raw
  target: {target}
  params: {params}
  trainer: {{max_epochs: 1}}
""",
        encoding="utf-8",
    )
    return stack


def _validate(stack: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["validate", str(stack), *args])
    return result.exit_code, result.output


def test_static_validate_runs_no_user_code_and_deep_does(tmp_path: Path) -> None:
    stack = _project(tmp_path, params="{hidden: 16}")
    code, out = _validate(stack)
    assert code == 0, out
    assert not list(tmp_path.glob("*.imported"))
    code, out = _validate(stack, "--deep")
    assert code == 0, out
    assert list(tmp_path.glob("*.imported"))
    assert "checked: model lakestacks.training.tabular:MLPClassifier and training.params" in out
    assert "checked: columns of main.deep.raw" in out


def test_a_misspelled_param_is_named_with_did_you_mean(tmp_path: Path) -> None:
    stack = _project(tmp_path, params="{hiden: 16}")
    assert _validate(stack)[0] == 0  # only the model's signature knows
    code, out = _validate(stack, "--deep")
    assert code == 2, out
    assert f"{stack}:17:" in out
    assert "training.params.hiden: MLPClassifier takes no parameter 'hiden'" in out
    assert "did you mean 'hidden'?" in out
    assert "Traceback" not in out


def test_a_param_of_the_wrong_type_says_which_type(tmp_path: Path) -> None:
    stack = _project(tmp_path, params='{hidden: "64"}')
    code, out = _validate(stack, "--deep")
    assert code == 2, out
    assert "training.params.hidden: hidden is '64' (str), but MLPClassifier takes hidden: int" in (
        out
    )
    assert "write hidden: 64 without quotes" in out
    assert "not supported between instances" not in out


def test_missing_target_and_expectation_columns_list_the_table_columns(tmp_path: Path) -> None:
    stack = _project(tmp_path, params="{hidden: 16}", target="churnd", column="agee")
    assert _validate(stack)[0] == 0
    code, out = _validate(stack, "--deep")
    assert code == 2, out
    assert "2 problems in the stack" in out
    assert "training.target: main.deep.raw has no column 'churnd'" in out
    assert "did you mean 'churned'" in out
    assert "data.expectations.raw[0].column: main.deep.raw has no column 'agee'" in out
    assert "its columns: id, age, plan, income, churned" in out


def test_a_table_no_run_wrote_is_said_to_be_unchecked(tmp_path: Path) -> None:
    stack = _project(tmp_path, params="{hidden: 16}")
    text = stack.read_text(encoding="utf-8").replace("table: raw, by", "table: features, by")
    stack.write_text(text.replace("  table: raw\n", "  table: features\n"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(stack), "--deep", "--json"])
    assert result.exit_code == 0, result.output
    deep = json.loads(result.output)["deep"]
    assert any("main.deep.features: no run has written it yet" in u for u in deep["unchecked"])
    assert "columns of main.deep.raw" in deep["checked"]


def test_a_prep_function_param_it_does_not_take(tmp_path: Path) -> None:
    stack = _project(tmp_path, params="{hidden: 16}")
    stack.write_text(
        stack.read_text(encoding="utf-8").replace("{scale: 2}", "{scal: 2}"), encoding="utf-8"
    )
    code, out = _validate(stack, "--deep")
    assert code == 2, out
    assert "data.prep[0].params.scal:" in out
    assert "did you mean 'scale'?" in out


def test_monitoring_columns_and_timestamp_are_checked_against_the_tables(tmp_path: Path) -> None:
    """Issue 17: a watched column that is not in the table is a `validate --deep` error."""
    stack = _project(tmp_path, params="{hidden: 16}")
    with stack.open("a", encoding="utf-8") as f:
        f.write(
            "monitoring:\n  table: raw\n  baseline: raw\n  timestamp: id\n  columns: [age, incme]\n"
        )
    assert _validate(stack)[0] == 0  # only the table knows its columns
    code, out = _validate(stack, "--deep")
    assert code == 2, out
    assert "1 problem in the stack" in out
    assert "monitoring.columns[1]: main.deep.raw has no column 'incme'" in out
    assert "did you mean 'income'" in out
