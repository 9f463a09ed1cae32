"""`stacks --help` and `stacks validate` must stay light: no heavy library is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import STACKS

HEAVY = ("prefect", "mlflow", "lightning", "great_expectations", "torch", "deltalake")

PROBE = """
import json, sys
from lakestacks.cli.main import app
try:
    app(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["validate", "--help"],
        ["validate", str(STACKS / "quickstart.yaml")],
        ["validate", "--show", str(STACKS / "quickstart.yaml")],
        ["plan", "--stack", str(STACKS / "quickstart.yaml")],
        ["schema"],
    ],
    ids=["help", "validate-help", "validate", "validate-show", "plan", "schema"],
)
def test_light_commands_import_no_heavy_library(argv: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    ).stdout
    modules = set(json.loads(out.rsplit("MODULES=", 1)[1]))
    assert "lakestacks" in modules
    assert not modules & set(HEAVY), f"imported {sorted(modules & set(HEAVY))}"


def test_console_script_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "validate" in result.stdout


@pytest.mark.integration
def test_data_prep_alone_loads_no_training_or_registry_library(tmp_path: Path) -> None:
    # Data prep runs for real; its data-docs page is drawn by a child process, so
    # great_expectations stays out of this one too.
    env = {**os.environ, "STACKS_TEST_LAKE": str(tmp_path / "lake")}
    argv = ["run", "data_prep", "-s", str(STACKS / "quickstart.yaml"), "-e", "test"]
    argv += ["--runner", "direct"]
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True, env=env
    ).stdout
    modules = set(json.loads(out.rsplit("MODULES=", 1)[1]))
    assert "deltalake" in modules
    assert not modules & {"torch", "lightning", "mlflow", "great_expectations", "prefect"}
    assert list((tmp_path / "lake" / "_reports" / "data_docs").rglob("*.html"))
