"""Every stack in stacks/ validates, and the JSON Schema accepts it as written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from lakestacks import api
from lakestacks.cli.main import app
from lakestacks.spec import json_schema, load_stack
from tests.conftest import STACKS

STACK_FILES = sorted(STACKS.glob("*.yaml"))


def test_there_are_reference_stacks() -> None:
    assert STACK_FILES


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_reference_stack_validates_in_every_environment(path: Path) -> None:
    resolved = load_stack(path)
    envs = resolved.stack.environments
    for env in envs:
        load_stack(path, env, environ={"LAKE_URI": "s3://x", "MLFLOW_TRACKING_URI": "http://m"})
    assert api.plan(resolved)[0].name == "data_prep"


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda p: p.stem)
def test_json_schema_accepts_reference_stack(path: Path) -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


def test_json_schema_rejects_what_the_loader_rejects() -> None:
    doc = yaml.safe_load((STACKS / "quickstart.yaml").read_text())
    doc["training"]["trainer"]["max_epoch"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json_schema())


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "stack.schema.json"
    result = CliRunner().invoke(app, ["schema", "--output", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text())["title"] == "Stack"


def test_plan_orders_the_quickstart_stages() -> None:
    result = CliRunner().invoke(app, ["plan", "-s", str(STACKS / "quickstart.yaml"), "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    names = [s["name"] for s in plan["stages"]]
    assert names == [
        "data_prep",
        "training",
        "evaluation",
        "approval",
        "deployment",
        "batch_inference",
        "monitoring",
    ]
    data_prep = plan["stages"][0]
    assert "main.churn.features" in data_prep["writes"]
    assert plan["stages"][5]["writes"] == ["main.churn.predictions"]
    assert plan["lake"] == str(STACKS / ".lake")


def test_validate_reports_success_and_json() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(STACKS / "quickstart.yaml")])
    assert ok.exit_code == 0 and "is valid" in ok.stdout
    as_json = runner.invoke(app, ["validate", "--json", "-s", str(STACKS / "quickstart.yaml")])
    assert json.loads(as_json.stdout)["ok"] is True


def test_version() -> None:
    from lakestacks import __version__

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout
