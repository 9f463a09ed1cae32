"""Stack files built to hurt the validator (issue 16, item 11): CI runs `stacks validate` on
every pull request, so an alias bomb, a self-referring alias, a deep nest or a huge file must
end in one clear problem and exit 2, at once, not in minutes of CPU and gigabytes of memory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _bomb(levels: int) -> str:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


CASES = {
    "alias-bomb": (_bomb(9), "values through YAML aliases (at most 100,000)"),
    "self-alias": ("version: 1\na: &a [1, *a]\n", "refers to the value that contains it"),
    "deep-nest": ("version: 1\na: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
    "huge": ("version: 1\n" + "# padding\n" * 150_000, "characters (at most 1,000,000)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_stack_is_one_clear_problem(tmp_path: Path, case: str) -> None:
    text, message = CASES[case]
    stack = tmp_path / "stack.yaml"
    stack.write_text(text, encoding="utf-8")
    # A separate process with a deadline: on a validator without bounds the bomb runs for
    # minutes and gigabytes, and a deep nest can take the interpreter down.
    done = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", "validate", str(stack)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_aliases_within_the_bound_still_work(tmp_path: Path) -> None:
    from lakestacks.spec._yaml import parse

    data, _ = parse(_bomb(2), "stack.yaml")
    assert len(data["a2"]) == 9 and data["a2"][0] == data["a1"]
