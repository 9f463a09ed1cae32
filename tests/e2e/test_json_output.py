"""Every field the README documents for a command's ``--json`` output is there: a field that
disappears (or a renamed one) fails here before it breaks a user's script."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app
from tests.conftest import REPO
from tests.e2e.conftest import Project

pytestmark = pytest.mark.integration


def documented() -> dict[str, list[str]]:
    """The README's table: command -> fields."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## JSON output", 1)[1].split("\n## ", 1)[0]
    table: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`stacks"):
            table[cells[0].strip("`")] = re.findall(r"`([^`]+)`", cells[1])
    return table


def missing(document: Any, path: str) -> bool:
    """Whether ``path`` (``a.b``, ``a[].b``) is absent from ``document``."""
    head, _, rest = path.partition(".")
    many = head.endswith("[]")
    key = head.removesuffix("[]")
    if not isinstance(document, dict) or key not in document:
        return True
    value = document[key]
    if not rest:
        return False
    if many:
        return not value or any(missing(item, rest) for item in value)
    return missing(value, rest)


def test_the_readme_documents_the_json_of_each_command() -> None:
    assert set(documented()) >= {
        "stacks run --json",
        "stacks models --json",
        "stacks plan --json",
        "stacks lineage REF --json",
    }


def test_every_documented_field_is_in_the_output(project: Project) -> None:
    runner = CliRunner()
    stack = ["-s", str(project.path)]
    commands = {
        "stacks run --json": ["run", "--runner", "direct", "--json"],
        "stacks plan --json": ["plan", "--json"],
        "stacks validate --json": ["validate", "--json"],
        "stacks models --json": ["models", "--json"],
        "stacks lineage REF --json": ["lineage", "churn_model@champion", "--json"],
        "stacks tables --json": ["tables", "--json"],
        "stacks table show NAME --json": ["table", "show", "customers", "--json"],
        "stacks history NAME --json": ["history", "customers", "--json"],
    }
    fields = documented()
    assert set(commands) == set(fields), "a documented command is not checked here"
    for name, argv in commands.items():
        done = runner.invoke(app, [*argv, *stack])
        assert done.exit_code == 0, (name, done.stderr)
        document = json.loads(done.stdout)
        assert document["schema"] == 1, name
        gone = [f for f in fields[name] if missing(document, f)]
        assert not gone, f"{name}: documented fields missing: {gone}"
