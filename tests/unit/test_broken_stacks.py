"""`stacks validate` on a corpus of broken stack files, and a few stacks that must validate.

Each file in ``tests/stacks/broken/`` holds one problem (a few hold several, to prove that
every problem is reported at once) and declares in its header comments what must be reported:

    # expect: LINE PATH: SUBSTRING    one line per problem; PATH '-' for a problem without one
    # expect-env: NAME                 run with --env NAME
    # expect-var: NAME=VALUE           set this variable; every other ${VAR} in the file is unset
    # known-bug: WHY                   the loader gets this file wrong today (strict xfail)

A problem is its ``FILE:LINE:COL: PATH: MESSAGE`` line plus the indented ``fix:`` line after
it, so a "did you mean" in the fix counts. The path matches when it is the reported path or
its tail after a dot (an overlay's problem may be reported under ``environments.NAME.``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lakestacks.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "stacks" / "broken"
FILES = sorted(BROKEN.glob("*.yaml"))

_EXPECT = re.compile(r"^#\s*expect:\s*(\d+)\s+(\S+):\s(.+)$")
_HEADER = re.compile(r"^(?P<where>.+?):(?P<line>\d+):(?P<col>\d+): (?P<rest>.*)$")
_COUNT = re.compile(r"^error: (\d+) problems? in the stack:$", re.MULTILINE)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


@dataclass
class Expected:
    """A broken file's header: what validating it must report."""

    problems: list[tuple[int, str, str]] = field(default_factory=list)
    env: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    known_bug: str | None = None


def _read_header(path: Path) -> Expected:
    expected = Expected()
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line.startswith("#"):
            break
        if match := _EXPECT.match(line):
            expected.problems.append((int(match[1]), match[2], match[3].strip()))
        elif line.startswith("# expect-env:"):
            expected.env = line.partition(":")[2].strip()
        elif line.startswith("# expect-var:"):
            name, _, value = line.partition(":")[2].strip().partition("=")
            expected.variables[name] = value
        elif line.startswith("# known-bug:"):
            expected.known_bug = line.partition(":")[2].strip()
        elif line.startswith("# expect"):
            raise AssertionError(f"{path.name}: malformed header line {line!r}")
    return expected


def _param(path: Path) -> object:
    reason = _read_header(path).known_bug
    marks = [pytest.mark.xfail(strict=True, reason=f"loader bug: {reason}")] if reason else []
    return pytest.param(path, id=path.stem, marks=marks)


def _problems(stderr: str, shown: str) -> list[tuple[int, str, str]]:
    """(line, path, header and fix text) of each problem printed for the file ``shown``."""
    found: list[tuple[int, str, str]] = []
    for text in stderr.splitlines():
        header = _HEADER.match(text)
        if header and header["where"] == shown:
            rest = header["rest"]
            path, sep, _ = rest.partition(": ")
            path = path if sep and " " not in path else "-"
            found.append((int(header["line"]), path, text))
        elif text.startswith("    fix:") and found:
            line, path, block = found[-1]
            found[-1] = (line, path, f"{block}\n{text}")
    return found


def _path_matches(reported: str, expected: str) -> bool:
    return reported == expected or (expected != "-" and reported.endswith(f".{expected}"))


def _set_variables(monkeypatch: pytest.MonkeyPatch, text: str, values: dict[str, str]) -> None:
    """Set the declared variables and unset every other ``${VAR}`` the stack uses."""
    for name in set(_VAR.findall(text)) - set(values):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def _validate(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("STACKS_DEBUG", raising=False)
    result = CliRunner().invoke(app, ["validate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_corpus_is_large_enough() -> None:
    assert len(FILES) >= 25, f"only {len(FILES)} broken stacks in {BROKEN}"


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_broken_stack_is_reported(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _read_header(path)
    assert expected.problems, f"{path.name} declares no '# expect:' line"
    _set_variables(monkeypatch, path.read_text(encoding="utf-8"), expected.variables)
    shown = str(path.relative_to(ROOT))
    args = [shown, *(["--env", expected.env] if expected.env else [])]

    code, stdout, stderr = _validate(monkeypatch, *args)

    assert "Traceback" not in stdout + stderr
    assert "internal error" not in stderr
    assert code == 2, f"exit code {code}\n{stdout}{stderr}"
    assert stderr.startswith("error: "), stderr
    reported = _problems(stderr, shown)
    for line, want_path, substring in expected.problems:
        hits = [
            block
            for at, path_, block in reported
            if at == line and _path_matches(path_, want_path) and substring in block
        ]
        assert hits, f"expected {shown}:{line}: {want_path}: ...{substring}...; got:\n{stderr}"
    count = _COUNT.search(stderr)
    assert count, stderr
    assert int(count[1]) == len(expected.problems) == len(reported), stderr


def test_json_output_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = "tests/stacks/broken/multiple_problems.yaml"

    code, stdout, _ = _validate(monkeypatch, shown, "--json")

    assert code == 2
    payload = json.loads(stdout)
    assert payload["ok"] is False
    assert payload["stack"] == shown
    assert payload["env"] == "dev"
    problems = payload["problems"]
    assert len(problems) == 3
    for problem in problems:
        assert set(problem) == {"file", "line", "column", "path", "message", "hint"}
        assert problem["file"] == shown
        assert problem["line"] > 0 and problem["column"] > 0
        assert problem["message"] and problem["hint"]
    assert [p["line"] for p in problems] == [16, 19, 21]
    assert [p["path"] for p in problems] == [
        "training.trainer.max_epochs",
        "evaluation.gates[0].metric",
        "schedules.pipeline.cron",
    ]


STACK = """\
version: 1
name: churn
catalog: main.churn
description: "{description}"
environments:
  dev:
    lake: "{lake}"
  prod:
    lake: ${{LAKESTACKS_TEST_UNSET_LAKE}}
    tracking_uri: ${{LAKESTACKS_TEST_UNSET_TRACKING}}
    training: {{trainer: {{max_epochs: "${{LAKESTACKS_TEST_UNSET_EPOCHS}}"}}}}
data:
  sources:
    customers:
      generator: lakestacks.data.generators:churn_customers
  split: {{by: customer_id, test: 0.2}}
training:
  model: lakestacks.training.tabular:MLPClassifier
  target: churned
  trainer: {{max_epochs: "{epochs}"}}
"""

UNSET = (
    "LAKESTACKS_TEST_UNSET_LAKE",
    "LAKESTACKS_TEST_UNSET_TRACKING",
    "LAKESTACKS_TEST_UNSET_EPOCHS",
    "LAKESTACKS_TEST_UNSET_DEFAULT",
    "LAKESTACKS_TEST_DOLLARS",
)


def _write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **fields: str) -> str:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    values = {"description": "", "lake": "./.lake", "epochs": "2", **fields}
    path = tmp_path / "stack.yaml"
    path.write_text(STACK.format(**values), encoding="utf-8")
    return str(path)


def _resolved(monkeypatch: pytest.MonkeyPatch, stack: str, *args: str) -> dict[str, Any]:
    code, stdout, stderr = _validate(monkeypatch, stack, "--json", *args)
    assert code == 0, stdout + stderr
    payload = json.loads(stdout)
    assert payload["ok"] is True and payload["problems"] == []
    resolved: dict[str, Any] = payload["resolved"]
    return resolved


def test_unset_variable_in_unselected_environment_is_fine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(tmp_path, monkeypatch)

    for args in ([], ["--env", "dev"]):
        code, stdout, stderr = _validate(monkeypatch, stack, *args)
        assert code == 0, stdout + stderr
        assert stdout.startswith(f"ok: {stack} is valid for env dev")

    code, _, stderr = _validate(monkeypatch, stack, "--env", "prod")
    assert code == 2
    assert "'LAKESTACKS_TEST_UNSET_LAKE' is not set" in stderr


def test_variable_default_is_used_when_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(
        tmp_path,
        monkeypatch,
        lake="${LAKESTACKS_TEST_UNSET_DEFAULT:-./lake-default}",
        epochs="${LAKESTACKS_TEST_UNSET_DEFAULT:-3}",
    )

    resolved = _resolved(monkeypatch, stack)

    assert resolved["environment"]["lake"] == str(tmp_path / "lake-default")
    assert resolved["training"]["trainer"]["max_epochs"] == 3


def test_variable_default_yields_to_a_set_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(tmp_path, monkeypatch, epochs="${LAKESTACKS_TEST_UNSET_DEFAULT:-3}")
    monkeypatch.setenv("LAKESTACKS_TEST_UNSET_DEFAULT", "7")

    resolved = _resolved(monkeypatch, stack)

    assert resolved["training"]["trainer"]["max_epochs"] == 7


def test_double_dollar_is_a_literal_dollar_brace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = _write(tmp_path, monkeypatch, description="costs $${LAKESTACKS_TEST_DOLLARS} a month")

    resolved = _resolved(monkeypatch, stack)

    assert resolved["description"] == "costs ${LAKESTACKS_TEST_DOLLARS} a month"
