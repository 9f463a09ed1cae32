"""Run git in a folder: what lineage, deployments and the scaffold read from a repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git"]


def git(folder: Path, *args: str) -> str | None:
    """``git ARGS`` run in ``folder``: its output, or None outside a repository or on error."""
    try:
        done = subprocess.run(  # noqa: S603 - fixed git subcommands
            ["git", *args],  # noqa: S607 - git from PATH, as a user runs it
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = done.stdout.strip()
    return out if done.returncode == 0 and out else None
