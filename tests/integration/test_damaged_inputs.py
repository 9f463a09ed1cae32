"""Inputs a crash or a hostile user leaves behind (issue 16, item 11): a truncated Delta log
and a project name no file system takes. Each is exit 2 with one message that names the
thing and the fix; no Rust backtrace even with RUST_BACKTRACE=1, no "internal error"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

STACK = """version: 1
name: dmg
catalog: main.dmg
data:
  sources:
    raw: {path: raw.csv}
"""


def _stacks(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RUST_BACKTRACE": "1", "STACKS_DEBUG": ""},
    )


def test_a_truncated_delta_log_names_the_table_and_exits_2(tmp_path: Path) -> None:
    (tmp_path / "raw.csv").write_text("id,x\n1,2\n3,4\n", encoding="utf-8")
    (tmp_path / "stack.yaml").write_text(STACK, encoding="utf-8")
    first = _stacks("run", "data_prep", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    log = sorted((tmp_path / ".lake/main/dmg/raw/_delta_log").glob("*.json"))[-1]
    log.write_bytes(log.read_bytes()[:100])  # a crash mid-write of the log
    for args in (("table", "show", "raw"), ("run", "data_prep"), ("history", "raw")):
        done = _stacks(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        error = done.stderr.strip().splitlines()[-1]
        assert error.startswith("error: cannot open Delta table ") and "main/dmg/raw" in error
        assert "_delta_log is damaged" in error
        text = done.stdout + done.stderr
        assert "<unknown>" not in text and "pthread_create" not in text
        assert "internal error" not in text and "Traceback" not in text


def test_a_project_name_too_long_for_a_file_system_is_a_clear_error(tmp_path: Path) -> None:
    done = _stacks("init", "a" * 250, "--no-input", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "250 characters long" in done.stderr and "at most 64" in done.stderr
    assert "internal error" not in done.stderr and "OSError" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-written
