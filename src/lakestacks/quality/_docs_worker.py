"""The data-docs worker: a process of its own that imports Great Expectations, then draws pages.

:mod:`lakestacks.quality.docs` starts it (a new interpreter, never a fork; see there) and talks
to it over two pipes. Each line on its stdin is a job, ``{"job": N, "file": PATH}``: PATH holds
the pickled ``(directory, reports)`` and is deleted once read. For each job the worker answers
one line, ``{"job": N, "error": null}`` or the reason the pages were not drawn, on the stdout it
was started with; end of input means finish. Anything a library prints goes to its stderr (a
file the parent reads only to explain a worker that died), never into the answers or onto the
console.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pickle
import sys
from pathlib import Path
from typing import TextIO

__all__ = ["main"]

# A reason, not a dump: an answer is one short line.
_MAX_ERROR = 2000


def main() -> int:
    """Import GX, then draw every job read from stdin until it closes; exit status 0."""
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # a stray print() lands in the log, not in the answers
    sys.stdout = sys.stderr
    broken = _preload()
    for line in sys.stdin:
        job = json.loads(line)
        _answer(answers, job["job"], _draw(Path(job["file"]), broken))
    return 0


def _preload() -> str | None:
    """Import what drawing a page needs, while the run goes on; why not, if that fails.

    A throwaway page is rendered, so whatever the renderer imports or compiles on first use
    (GX's page renderer and view, their Jinja templates) is loaded before the first job.
    """
    try:
        from lakestacks.quality._gx import render_html
        from lakestacks.quality.report import CheckResult, ValidationReport

        check = CheckResult(
            expectation="column_values_to_not_be_null",
            kwargs={"column": "id"},
            success=True,
            observed={"partial_unexpected_list": []},
            element_count=1,
            unexpected_count=0,
            unexpected_percent=0.0,
            sample=[],
            engine="arrow",
        )
        now = dt.datetime.now(dt.UTC)
        render_html(ValidationReport("warm_up", "enforce", True, 1, [check], None, now, 0.0, "0"))
    except Exception as exc:  # the worker stays up to say so for every job
        return f"cannot load Great Expectations: {type(exc).__name__}: {exc}"
    return None


def _draw(file: Path, broken: str | None) -> str | None:
    """Draw one job's pages; the reason if any was not drawn."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        return f"job file unreadable: {exc}"
    finally:
        file.unlink(missing_ok=True)
    if broken is not None:
        return broken
    from lakestacks.quality.docs import _write_pages

    try:
        # Our parent wrote this file (mkstemp: its own, mode 0600) a moment ago.
        directory, reports = pickle.loads(data)  # noqa: S301
        _write_pages(reports, directory)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _answer(answers: TextIO, job: int, error: str | None) -> None:
    if error is not None and len(error) > _MAX_ERROR:
        error = error[: _MAX_ERROR - 3] + "..."
    answers.write(json.dumps({"job": job, "error": error}) + "\n")
    answers.flush()


if __name__ == "__main__":
    sys.exit(main())
