"""A commit journal: several Delta tables written as a unit, rolled back when a run dies.

Delta commits one table at a time. A run that writes several (data prep: its sources, prep
outputs, quarantines and ``_validations``) and dies after the first commit would leave the
others at their old versions. So before its first commit the run writes a small journal,
``<lake>/_journal/<kind>-<run>.json`` (atomically: a temporary file, fsynced, then
``os.replace``), naming every table it may write and its version before; each of its
commits carries the run's id (:data:`RUN_KEY`) in the commit metadata; the journal is
deleted once every table is committed.

A journal that outlives its run is rolled *back* on the next start: rolling forward would
need the dead run's data, which is gone. Each table whose newer commits are all the dead
run's is restored to its version before (``DeltaTable.restore``: a new commit, so history
keeps what happened), or removed when the dead run created it; a table that another writer
committed to since is left as it is, and the line says so. A run that fails (a conflict,
an error) after its first commit rolls itself back the same way before it raises.

Runs of one lake hold an exclusive lock (``<lake>/_journal/.lock``, ``flock``) while they
commit and while they recover, so their units do not interleave, and a journal found
while holding the lock belongs to a process that is gone (the kernel drops a dead
process's lock). The journal needs a local lake: on an object store (``s3://`` ...) no
journal is kept (one debug line); commits still retry and conflicts are still refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from lakestacks.errors import LakestacksError, UserError

__all__ = ["JOURNAL_DIR", "RUN_KEY", "CommitUnit", "commit_unit", "recover"]

JOURNAL_DIR = "_journal"
RUN_KEY = "lakestacks.unit"
"""The commit-metadata key under which each commit of a unit records the unit's run id."""

# Tests only: SIGKILL this process right after the named table is committed (a crash).
_KILL_AFTER = "LAKESTACKS_FAULT_KILL_AFTER_COMMIT"
_LOCK_WAIT_SECONDS = 600.0

_log = logging.getLogger(__name__)


@dataclass
class CommitUnit:
    """One run's unit of commits: the metadata to tag them with, and what was recovered."""

    run_id: str
    journal: Path | None  # None: no journal (an object-store lake)
    recovered: list[str] = field(default_factory=list)

    @property
    def tag(self) -> dict[str, str]:
        """The commit metadata that marks a commit as this unit's."""
        return {RUN_KEY: self.run_id}

    def committed(self, table: str) -> None:
        """Called after each commit of the unit (the one place a test can crash a run)."""
        if os.environ.get(_KILL_AFTER) == table:
            os.kill(os.getpid(), signal.SIGKILL)


def _local(lake: str) -> Path | None:
    if "://" in lake or os.name != "posix":  # flock is POSIX
        return None
    return Path(lake) / JOURNAL_DIR


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold the lake's commit lock (waits for another run's unit, bounded)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as handle:
        deadline = time.monotonic() + _LOCK_WAIT_SECONDS
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise UserError(
                        f"another run has held the commit lock {folder / '.lock'} for "
                        f"{_LOCK_WAIT_SECONDS:.0f} s; fix: wait for it, or end it"
                    ) from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def recover(lake: str) -> list[str]:
    """Roll back the units of runs that died mid-way in ``lake``; one line for each.

    Example:
        >>> recover("/work/churn/.lake")  # doctest: +SKIP
        ['data prep run 3f2a... was interrupted after committing main.churn.customers; ...']
    """
    folder = _local(lake)
    if folder is None or not any(folder.glob("*.json")):  # the common case: no lock taken
        return []
    with _locked(folder):
        return _recover_locked(folder)


def _recover_locked(folder: Path) -> list[str]:
    lines = []
    for journal in sorted(folder.glob("*.json")):
        try:
            entry = json.loads(journal.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # never half-written (os.replace): unreadable is for a person to see
        lines.append(_describe(entry, _roll_back(entry), interrupted=True))
        journal.unlink(missing_ok=True)
    return lines


@contextlib.contextmanager
def commit_unit(
    lake: str, tables: Mapping[str, str], *, kind: str = "data_prep"
) -> Iterator[CommitUnit]:
    """Commit several tables as a unit (see the module's notes).

    Args:
        lake: The lake's root (a folder, or an object-store URI: then no journal).
        tables: Every table the unit may write: its name (for messages) and path.
        kind: What the unit is, in the journal's name and the messages.

    Example:
        >>> with commit_unit(lake, {"main.churn.t": path}) as unit:  # doctest: +SKIP
        ...     write_table(path, rows, metadata=unit.tag)
        ...     unit.committed("main.churn.t")
    """
    run_id = uuid.uuid4().hex[:12]
    folder = _local(lake)
    if folder is None or not tables:
        if folder is None:
            _log.debug("lake %s is not a local folder: %s keeps no commit journal", lake, kind)
        yield CommitUnit(run_id, None)
        return
    with _locked(folder):
        recovered = _recover_locked(folder)
        entry = {
            "kind": kind,
            "run": run_id,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now(UTC).isoformat(),
            "tables": {name: {"path": p, "before": _version(p)} for name, p in tables.items()},
        }
        journal = folder / f"{kind}-{run_id}.json"
        _write_atomically(journal, entry)
        try:
            yield CommitUnit(run_id, journal, recovered)
        except BaseException as err:
            line = _describe(entry, _roll_back(entry), interrupted=False)
            journal.unlink(missing_ok=True)
            if isinstance(err, LakestacksError) and line:
                err.args = (f"{err}\n{line}",)
            elif line:
                _log.warning("%s", line)
            raise
        journal.unlink(missing_ok=True)


def _version(path: str) -> int | None:
    from lakestacks.data.tables import open_table, table_exists

    return int(open_table(path).version()) if table_exists(path) else None


def _write_atomically(path: Path, entry: Mapping[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    handle: IO[str]
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(entry, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _roll_back(entry: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Undo the unit's commits, table by table: (table, what was done) for each it wrote."""
    from deltalake import CommitProperties

    from lakestacks.data.fingerprint import FINGERPRINT_KEY
    from lakestacks.data.tables import open_table, table_exists

    run = entry["run"]
    done = []
    for name, table in entry["tables"].items():
        path, before = table["path"], table["before"]
        if not table_exists(path):
            continue
        delta = open_table(path)
        current = int(delta.version())
        start = -1 if before is None else int(before)
        if current <= start:
            continue
        history = delta.history(current - start + (0 if before is None else 1))
        newer = [h for h in history if int(h["version"]) > start]
        ours = [h for h in newer if h.get(RUN_KEY) == run]
        if not ours:
            continue
        if len(ours) < len(newer):
            done.append((name, "left as it is (another run committed to it since)"))
            continue
        if before is None:
            shutil.rmtree(path)  # it created the table: the table as it was is no table
            done.append((name, "removed it (the run created it)"))
            continue
        # The restore keeps the fingerprint of what it brings back, so an unchanged next
        # run still sees its rows as unchanged.
        [old] = [h for h in history if int(h["version"]) == before] or [{}]
        meta = {"lakestacks.restored_from_run": run}
        if isinstance(old.get(FINGERPRINT_KEY), str):
            meta[FINGERPRINT_KEY] = old[FINGERPRINT_KEY]
        try:
            delta.restore(before, commit_properties=CommitProperties(custom_metadata=meta))
        except Exception as err:
            done.append((name, f"could not restore it to v{before}: {err}"))
            continue
        done.append((name, f"restored it to v{before}"))
    return done


def _describe(entry: Mapping[str, Any], done: list[tuple[str, str]], *, interrupted: bool) -> str:
    kind = str(entry.get("kind", "run")).replace("_", " ")
    if not done:
        if not interrupted:
            return ""
        return f"{kind} run {entry['run']} was interrupted before its first commit; nothing to undo"
    who = f"process {entry.get('pid')} on {entry.get('host')}"
    what = "was interrupted" if interrupted else "failed"
    tables = ", ".join(name for name, _ in done)
    actions = "; ".join(f"{name}: {action}" for name, action in done)
    return f"{kind} run {entry['run']} ({who}) {what} after committing {tables}; {actions}"
