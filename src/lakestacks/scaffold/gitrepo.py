"""The git repository `stacks init` makes: lineage records the commit a model was trained
from, and `stacks deploy` versions deployments by it, so a project starts as a repository
with its first commit."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FALLBACK_IDENTITY", "FirstCommit", "first_commit"]

# Used for the first commit only (`git -c`), when git has no user.name or user.email: the
# user's and global configuration are left as they are.
FALLBACK_IDENTITY = ("lakestacks", "lakestacks@localhost")


@dataclass
class FirstCommit:
    """What became of the repository: the commit made, or why there is none (``note``)."""

    commit: str | None
    note: str


def first_commit(
    dest: Path, paths: Iterable[str], message: str, branch: str | None = None
) -> FirstCommit:
    """``git init`` in ``dest`` and commit ``paths`` (the files the template wrote).

    Skipped, with a note saying why, when git is not installed or ``dest`` is already inside
    a repository (a project in a monorepo: its files are left for the user to commit there).
    Only the template's files are committed, so other files in a ``--force``d folder stay
    untracked.

    Example:
        >>> first_commit(Path("churn"), ["stack.yaml"], "Scaffold churn").note  # doctest: +SKIP
        'initialised a git repository, first commit 1a2b3c4'
    """
    git = shutil.which("git")
    if git is None:
        return FirstCommit(None, "git is not installed: no repository made (git init later)")
    inside = _git(git, dest, "rev-parse", "--show-toplevel")
    if inside.returncode == 0:
        top = inside.stdout.strip()
        return FirstCommit(
            None,
            f"already inside the git repository {top}: no new one made; commit the files there",
        )
    if "not a git repository" not in inside.stderr:
        why = _first_line(inside.stderr)
        return FirstCommit(None, f"git cannot tell whether {dest} is in a repository ({why})")
    init = ["init", "-q", *([f"--initial-branch={branch}"] if branch else [])]
    steps: list[list[str]] = [init, ["add", "--", *sorted(paths)]]
    for step in steps:
        done = _git(git, dest, *step)
        if done.returncode != 0:
            return FirstCommit(None, f"git {step[0]} failed: {_first_line(done.stderr)}")
    name = _git(git, dest, "config", "user.name").stdout.strip()
    email = _git(git, dest, "config", "user.email").stdout.strip()
    identity, who = [], ""
    if not name or not email:
        name, email = name or FALLBACK_IDENTITY[0], email or FALLBACK_IDENTITY[1]
        identity = ["-c", f"user.name={name}", "-c", f"user.email={email}"]
        who = f", authored as {name} <{email}> (git has no user.name/user.email)"
    done = _git(git, dest, *identity, "commit", "-q", "-m", message)
    if done.returncode != 0:
        why = _first_line(done.stderr or done.stdout)
        return FirstCommit(None, f"git commit failed ({why}): the files are staged, commit them")
    sha = _git(git, dest, "rev-parse", "HEAD").stdout.strip() or None
    short = sha[:7] if sha else "?"
    return FirstCommit(sha, f"initialised a git repository, first commit {short}{who}")


def _git(git: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(  # noqa: S603 - git with fixed subcommands and our own paths
            [git, *args], cwd=folder, capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return subprocess.CompletedProcess([git, *args], 1, "", str(err))


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else "no message"
