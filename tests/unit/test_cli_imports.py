"""`stacks --help` and `stacks validate` must stay light: no heavy library is imported."""

from __future__ import annotations

import json
import subprocess
import sys

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
