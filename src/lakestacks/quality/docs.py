"""Data-docs pages: Great Expectations' HTML page for every validation, and their index.

The pages work offline: they link no CDN, only ``static-assets/`` beside them, and ``index.html``
lists every validation in the folder, newest first (see ``quality._offline``).

Importing ``great_expectations`` only to draw a page costs 2-4 s, more than the rest of a
quickstart data prep, so pages are drawn by a worker process that imports GX while the run goes
on. :func:`prepare_data_docs` starts it at the start of data prep, so that its import overlaps
data prep and training (whose first seconds import Lightning on one core); :func:`start_data_docs`
sends it the reports; :func:`wait_for_data_docs` (at the end of every ``api.run``, and at exit)
waits for the pages, boundedly, and reports those that could not be drawn. A worker that drew
everything stays for the next run in the same process; at exit it is stopped.

The worker is a new interpreter (``subprocess``: fork and exec in one step, no Python runs in
between), never a bare ``fork()`` of this process. By the time its pages are ready a run has
threads (Prefect's runner and API client, delta-rs, OpenMP, MLflow); a forked child gets a
copy of every lock those threads held at that instant, held forever, and can hang or corrupt
state at random (Python 3.12 warns about such forks). A new interpreter pays for its own
imports (pandas, pyarrow and GX: ~3.3 s of CPU where a fork paid ~2.1 s for GX alone), which is
why it starts first thing, while the other core is free, and at nice 19: training's OpenMP
threads spin-wait and slow down ~3x when they share a core with a busy process. The start
from ``multiprocessing`` (spawn, forkserver) cost the same CPU in a measurement, and its spawn
re-imports the parent's main module (the CLI), so a plain interpreter it is. Where GX is
already imported (a suite needed it) and no worker runs, pages are drawn in line: no import.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO

from lakestacks.quality._offline import INDEX, install_static, offline_page, write_index
from lakestacks.quality.report import ValidationReport

__all__ = [
    "index_path",
    "page_path",
    "prepare_data_docs",
    "start_data_docs",
    "wait_for_data_docs",
    "write_data_docs",
]

# How long the end of a run waits for its pages before giving up on them.
WAIT_SECONDS = 300.0
# How long the answers a worker wrote before it died are read (its pipe is at its end).
_DEAD_SECONDS = 5.0
# The worker's first statements: idle priority before anything is imported; Ctrl-C is for the
# run, which then still waits for its pages; no warnings (they would only fill its log); the
# parent's import path, so it loads the same lakestacks (as multiprocessing's spawn does).
_BOOT = (
    "import json, os, signal, sys, warnings\n"
    "os.nice(19)\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
    "warnings.simplefilter('ignore')\n"
    "sys.path[:] = json.loads(sys.argv[1])\n"
    "from lakestacks.quality._docs_worker import main\n"
    "sys.exit(main())\n"
)

_log = logging.getLogger(__name__)


@dataclass
class _Job:
    """A batch of pages: drawn in line (done), or sent to the worker and not yet answered."""

    number: int
    paths: list[Path]
    file: Path | None = None  # the pickled reports, until the worker reads and deletes it
    done: bool = False
    error: str | None = None


class _Renderer:
    """This process's worker and the jobs it was sent (one instance: ``_renderer``)."""

    def __init__(self) -> None:
        self.at_exit = False  # _at_exit is registered (once, and kept in a forked child)
        self.reset()

    def reset(self) -> None:
        """No worker and no job: in a forked child, where the worker is the parent's."""
        self.lock = threading.Lock()  # Prefect may run tasks in threads; a fork may copy it held
        self.worker: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None  # the worker's stderr, to say why it died
        self.jobs: list[_Job] = []
        self.count = 0


_renderer = _Renderer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renderer.reset)


def page_path(report: ValidationReport, directory: str | Path) -> Path:
    """Where a validation's page goes: ``<directory>/<table>/<started>-<run_id[:8]>.html``."""
    started = report.started.astimezone(dt.UTC)
    return Path(directory) / report.table / f"{started:%Y%m%dT%H%M%S}-{report.run_id[:8]}.html"


def index_path(directory: str | Path) -> Path:
    """The data docs' index: ``<directory>/index.html``, every validation's page, newest first."""
    return Path(directory) / INDEX


def write_data_docs(report: ValidationReport, directory: str | Path) -> Path:
    """Render a validation as a Great Expectations data-docs page, now, in this process.

    The page is GX's own (its ``ValidationResultsPageRenderer`` and ``DefaultJinjaPageView``),
    built from the report's results whichever engine computed them, and made to work offline:
    it links nothing remote (GX's CDN scripts and stylesheets are dropped), only the assets
    in ``<directory>/static-assets`` (written here too). ``<directory>/index.html`` is then rebuilt
    from the pages on disk (see :func:`index_path`). Nothing is written outside ``directory``
    and nothing is fetched. The page appears whole or not at all.

    Args:
        report: The validation to render.
        directory: Folder of the data docs (see :func:`page_path`).

    Returns:
        The path of the page.

    Example:
        >>> write_data_docs(report, ".lake/_reports/data_docs")  # doctest: +SKIP
        PosixPath('.lake/_reports/data_docs/features/20250101T120000-5c1d0e2a.html')
    """
    [path] = _write_pages([report], directory)
    return path


def _write_pages(reports: Sequence[ValidationReport], directory: str | Path) -> list[Path]:
    """Write the reports' pages, then (when any was written) their assets and the index."""
    from lakestacks.quality._gx import render_html, static_folder

    written: list[Path] = []
    try:
        for report in reports:
            html = offline_page(render_html(report), report)
            path = page_path(report, directory)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.partial")
            try:
                partial.write_text(html, encoding="utf-8")
                partial.replace(path)
            except BaseException:
                partial.unlink(missing_ok=True)  # a full disk, a file-size limit: no half page
                raise
            written.append(path)
    finally:
        if written:  # those written link the assets and belong in the index, whatever failed
            install_static(Path(directory), static_folder())
            write_index(Path(directory))
    return written


def prepare_data_docs() -> bool:
    """Start the worker that draws pages now, so that its import of GX overlaps the run.

    Cheap (a process start, a few ms) and idempotent: a running worker is kept. Nothing is
    started when GX is already imported here (pages are then drawn in line). A worker never
    sent a page costs the run nothing but a core at idle priority: it is killed at exit,
    without waiting for its import to end.

    Returns:
        True when a worker is running.

    Example:
        >>> prepare_data_docs()  # at the start of a data prep with expectations  # doctest: +SKIP
        True
    """
    with _renderer.lock:
        return _ensure_worker()


def start_data_docs(reports: Sequence[ValidationReport], directory: str | Path) -> list[Path]:
    """Start drawing the reports' pages; they exist once :func:`wait_for_data_docs` returns.

    The reports go to the worker (started now if :func:`prepare_data_docs` was not called),
    or are drawn in line when GX is already imported and no worker runs. This never raises
    for a page: what could not be drawn is reported by :func:`wait_for_data_docs`.

    Returns:
        The paths the pages will have, in order.

    Example:
        >>> start_data_docs([report], ".lake/_reports/data_docs")  # doctest: +SKIP
        [PosixPath('.lake/_reports/data_docs/features/20250101T120000-5c1d0e2a.html')]
    """
    paths = [page_path(r, directory) for r in reports]
    if not reports:
        return paths
    with _renderer.lock:
        if _ensure_worker():
            _renderer.count += 1
            job = _Job(_renderer.count, paths)
            _renderer.jobs.append(job)
            _send(job, reports, directory)
            return paths
    error = _draw_here(reports, directory)
    if error is not None:
        with _renderer.lock:
            _renderer.count += 1
            _renderer.jobs.append(_Job(_renderer.count, paths, done=True, error=error))
    return paths


def wait_for_data_docs(timeout: float = WAIT_SECONDS) -> list[str]:
    """Wait for the pages sent to the worker, at most ``timeout`` seconds.

    A worker that died is reported, with the last line of its error output; one still
    drawing at the deadline is killed and reported. A worker that drew everything is kept for
    the next run of this process, and stopped at exit.

    Returns:
        One message per batch of pages that could not be drawn (empty when all were); each
        is also logged as a warning: the run's tables are written whether or not its pages are.

    Example:
        >>> wait_for_data_docs()  # at the end of a run  # doctest: +SKIP
        []
    """
    deadline = time.monotonic() + timeout
    with _renderer.lock:  # held throughout: answers are read for the jobs sent so far
        _collect(deadline, f"took over {timeout:.0f} s")
        jobs, _renderer.jobs = _renderer.jobs, []
    problems = []
    for job in jobs:
        if job.file is not None:
            job.file.unlink(missing_ok=True)  # the worker never read it
        missing = [p for p in job.paths if not p.exists()]
        if job.error is None or not missing:
            continue  # drawn (perhaps by a worker killed before it could answer)
        problems.append(f"data docs not written ({', '.join(map(str, missing))}): {job.error}")
        _log.warning(problems[-1])
    return problems


# -- the worker ------------------------------------------------------------------------------


def _ensure_worker() -> bool:
    """Start the worker unless it runs or GX is here (the lock is held); True if it runs."""
    if _renderer.worker is not None:
        if _renderer.worker.poll() is None:
            return True
        # It died since the last page was sent: its answers, its reason, then a new one.
        _collect(time.monotonic() + _DEAD_SECONDS, "the data-docs worker ended")
        _stop(0.0)
    if "great_expectations" in sys.modules or sys.platform == "win32" or not sys.executable:
        return False  # drawn in line: GX costs no import here, or no worker can be run
    log = tempfile.TemporaryFile()
    try:
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", _BOOT, json.dumps(sys.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    except OSError as exc:
        log.close()
        _log.debug("data docs drawn in line: no worker (%s)", exc)
        return False
    _renderer.worker, _renderer.log = worker, log
    if not _renderer.at_exit:
        atexit.register(_at_exit)
        _renderer.at_exit = True
    return True


def _send(job: _Job, reports: Sequence[ValidationReport], directory: str | Path) -> None:
    """Hand a job to the worker: the reports in a file of ours, its name down the pipe."""
    worker = _renderer.worker
    assert worker is not None and worker.stdin is not None  # noqa: S101 - _ensure_worker
    # The masks of failing rows are for quarantine, not for pages; absolute, because the
    # worker does not follow this process's working directory.
    payload = (
        str(Path(directory).absolute()),
        [replace(r, failing=None, masks=[]) for r in reports],
    )
    try:
        fd, name = tempfile.mkstemp(prefix="lakestacks-docs-", suffix=".pickle")
        job.file = Path(name)
        with os.fdopen(fd, "wb") as out:
            pickle.dump(payload, out)
    except Exception as exc:  # no temp space, an unpicklable value: report it, go on
        job.done, job.error = True, f"cannot send to the data-docs worker: {exc}"
        return
    try:
        worker.stdin.write(json.dumps({"job": job.number, "file": name}).encode() + b"\n")
        worker.stdin.flush()
    except OSError:
        pass  # the worker is gone: wait_for_data_docs says why


def _collect(deadline: float, late: str) -> None:
    """Read the answers to the jobs sent (the lock is held).

    When the worker ends or runs past the deadline before answering them all, it is stopped
    and each job without an answer gets the reason (``late`` at the deadline).
    """
    waiting = {job.number: job for job in _renderer.jobs if not job.done}
    worker = _renderer.worker
    if not waiting or worker is None or worker.stdout is None:
        return
    _read_answers(worker.stdout.fileno(), waiting, deadline)
    if waiting:
        why = _stop(max(0.0, deadline - time.monotonic())) or late
        for job in waiting.values():
            job.done, job.error = True, why


def _stop(grace: float) -> str:
    """End the worker (the lock is held): end of input, up to ``grace`` seconds, then a kill.

    Returns:
        How it ended on its own (exit status and last words), or ``""`` when it was killed.
    """
    worker, log = _renderer.worker, _renderer.log
    _renderer.worker, _renderer.log = None, None
    if worker is None or log is None:
        return ""
    if worker.stdin is not None:
        try:
            worker.stdin.close()  # end of input: finish
        except OSError:
            pass  # already broken: it is gone
    why = ""
    try:
        worker.wait(grace)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    else:
        why = f"the data-docs worker exited with status {worker.returncode}{_last_words(log)}"
        if worker.returncode == 0:
            why = "the data-docs worker ended without drawing them"
    if worker.stdout is not None:
        worker.stdout.close()
    log.close()
    return why


def _at_exit() -> None:
    """Wait for pages still being drawn (a run not made by ``api.run``), then stop the worker.

    By then it has nothing left to do, idle or still importing, so it is killed at once.
    """
    wait_for_data_docs()
    with _renderer.lock:
        _stop(0.0)


def _read_answers(fd: int, waiting: dict[int, _Job], deadline: float) -> None:
    """Read the worker's answers until each job has one, it exits, or the deadline passes."""
    buffer = b""
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return
        chunk = os.read(fd, 65536)
        if not chunk:
            return  # the worker ended
        *lines, buffer = (buffer + chunk).split(b"\n")
        for line in lines:
            try:
                answer = json.loads(line)
                job = waiting.pop(int(answer["job"]), None)
            except (ValueError, KeyError, TypeError):
                continue  # not an answer (a library printed before the worker's main ran)
            if job is not None:
                job.done, job.error, job.file = True, answer.get("error"), None


def _last_words(log: IO[bytes]) -> str:
    """The last line the dead worker wrote to its stderr (its exception, usually)."""
    log.seek(0, os.SEEK_END)
    log.seek(max(0, log.tell() - 4000))
    lines = log.read().decode(errors="replace").strip().splitlines()
    return f": {lines[-1].strip()}" if lines else ""


def _draw_here(reports: Sequence[ValidationReport], directory: str | Path) -> str | None:
    """Draw pages in this process; why not, if one failed."""
    try:
        _write_pages(reports, directory)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
