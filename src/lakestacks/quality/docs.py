"""Data-docs pages: Great Expectations' HTML page for every validation.

Importing ``great_expectations`` only to draw a page costs ~1.7 s, more than the rest of a
quickstart data prep. :func:`start_data_docs` therefore draws the pages in a forked child,
which inherits everything already imported (pandas, pyarrow), while the run goes on to train
on the other core; :func:`wait_for_data_docs` (called at the end of every ``api.run``, and at
exit) waits for them. A new interpreter instead (spawn) was measured slower than drawing in
line: it re-imports pandas, scipy and pyarrow first. Where fork is not safe (not Linux) or GX
is already imported, pages are drawn in line.
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lakestacks.quality.report import ValidationReport

__all__ = ["page_path", "start_data_docs", "wait_for_data_docs", "write_data_docs"]

# How long the end of a run waits for its pages before giving up on them.
WAIT_SECONDS = 300.0
_MESSAGE_BYTES = 4000  # below a pipe's buffer, so the child never blocks writing it


@dataclass
class _Pages:
    """Pages being drawn by a child process."""

    pid: int
    errors: int  # read end of a pipe: why the child failed, if it did
    paths: list[Path]


_pending: list[_Pages] = []
_log = logging.getLogger(__name__)


def page_path(report: ValidationReport, directory: str | Path) -> Path:
    """Where a validation's page goes: ``<directory>/<table>/<started>-<run_id[:8]>.html``."""
    started = report.started.astimezone(dt.UTC)
    return Path(directory) / report.table / f"{started:%Y%m%dT%H%M%S}-{report.run_id[:8]}.html"


def write_data_docs(report: ValidationReport, directory: str | Path) -> Path:
    """Render a validation as a Great Expectations data-docs page, now.

    The page is GX's own (its ``ValidationResultsPageRenderer`` and ``DefaultJinjaPageView``),
    built from the report's results whichever engine computed them. Nothing is written outside
    ``directory`` and nothing is fetched (the page links GX's CSS and scripts from CDNs, as GX's
    own pages do, for the browser to load). The page appears whole or not at all.

    Args:
        report: The validation to render.
        directory: Folder of the data docs (see :func:`page_path`).

    Returns:
        The path of the page.

    Example:
        >>> write_data_docs(report, ".lake/_reports/data_docs")  # doctest: +SKIP
        PosixPath('.lake/_reports/data_docs/features/20250101T120000-5c1d0e2a.html')
    """
    from lakestacks.quality._gx import render_html

    html = render_html(report)
    path = page_path(report, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(path)
    return path


def start_data_docs(reports: Sequence[ValidationReport], directory: str | Path) -> list[Path]:
    """Start drawing the reports' pages; they exist once :func:`wait_for_data_docs` returns.

    Returns:
        The paths the pages will have, in order.
    """
    paths = [page_path(r, directory) for r in reports]
    if not reports:
        return paths
    if not _can_fork():
        for report in reports:
            write_data_docs(report, directory)
        return paths
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: draw, say why not if it fails, and leave without cleanup
        os.close(read_end)
        # Idle priority: training's OpenMP threads spin-wait and slow down ~3x when they share
        # a core with a busy process; at nice 19 the child runs in the time the run leaves.
        os.nice(19)
        status = 0
        try:
            for report in reports:
                write_data_docs(report, directory)
        except BaseException as exc:  # whatever it is, the parent reports it
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode()[:_MESSAGE_BYTES])
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    if not _pending:
        atexit.register(wait_for_data_docs)
    _pending.append(_Pages(pid, read_end, paths))
    return paths


def wait_for_data_docs(timeout: float = WAIT_SECONDS) -> list[str]:
    """Wait for the pages drawn in the background.

    Returns:
        One message per batch of pages that could not be drawn (empty when all were); each
        is also logged as a warning: the run's tables are written whether or not its pages are.
    """
    problems = []
    deadline = time.monotonic() + timeout
    while _pending:
        job = _pending.pop(0)
        status = _wait(job.pid, deadline)
        why = os.read(job.errors, _MESSAGE_BYTES).decode(errors="replace").strip()
        os.close(job.errors)
        if status != 0:
            names = ", ".join(str(p) for p in job.paths if not p.exists())
            why = why or (
                f"took over {timeout:.0f} s" if status is None else f"exit status {status}"
            )
            problems.append(f"data docs not written ({names}): {why}")
            _log.warning(problems[-1])
    return problems


def _wait(pid: int, deadline: float) -> int | None:
    """The child's exit status, or None when it ran past the deadline and was killed."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return None
        time.sleep(0.02)


def _can_fork() -> bool:
    # macOS forks are unsafe once system frameworks run threads; with GX already imported
    # (a suite needed it) drawing in line costs no import.
    return sys.platform == "linux" and "great_expectations" not in sys.modules
