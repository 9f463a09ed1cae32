"""Secrets in a stack never reach the screen (issue 16, item 5): `stacks validate --show` and
`--json` print the resolved stack, and a problem echoes the value it refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app

TOKEN = "tok-4f1c9a7e2b6d8053"  # noqa: S105 - a test token
HOOK_SECRET = "hook-9d2e7c1a5b3f"  # noqa: S105 - a test secret

STACK = """version: 1
name: demo
catalog: main.demo
data:
  sources:
    raw: {path: raw.csv}
  split: {by: id, test: 0.2}
training:
  model: lakestacks.training.tabular:MLPClassifier
  target: y
deployment:
  model: demo_model
  serving:
    auth:
      tokens:
        - {name: ci, token: "${TOKEN}"}
notifications:
  webhooks:
    - {url: "https://hooks.example.com/x", secret: "${HOOK_SECRET}"}
"""


@pytest.mark.parametrize("args", [["--show"], ["--json"], []])
def test_validate_prints_no_token_and_no_webhook_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(STACK, encoding="utf-8")
    monkeypatch.setenv("TOKEN", TOKEN)
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    result = CliRunner().invoke(app, ["validate", str(stack), *args])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and HOOK_SECRET not in result.output
    if args:
        assert "***" in result.output  # shown as set, not dropped


def test_a_refused_token_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = tmp_path / "stack.yaml"
    stack.write_text(STACK, encoding="utf-8")
    monkeypatch.setenv("TOKEN", "short-secret")  # under the 16 characters a token needs
    monkeypatch.setenv("HOOK_SECRET", HOOK_SECRET)
    result = CliRunner().invoke(app, ["validate", str(stack)])
    assert result.exit_code == 2, result.output
    assert "deployment.serving.auth.tokens[0].token" in result.output
    assert "at least 16 characters" in result.output
    assert "short-secret" not in result.output and "(got ***)" in result.output
