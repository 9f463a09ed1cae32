"""Data-docs pages drawn in a worker process, so importing Great Expectations (~2.3 s on
two cores) overlaps the next stage instead of adding to the run.

``DocsWriter.submit`` starts ``python -m lakestacks.quality.docs`` on the reports (as JSON)
and returns the pages' paths at once; ``close`` waits for every worker, so the pages exist
when the run that wrote them ends.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from lakestacks.errors import LakestacksError
from lakestacks.quality.report import CheckResult, ValidationReport, to_jsonable, write_data_docs

__all__ = ["DocsWriter", "docs_path"]


def docs_path(report: ValidationReport, directory: str | Path) -> Path:
    """Where :func:`write_data_docs` puts a report's page."""
    started = report.started.astimezone(dt.UTC)
    return Path(directory) / report.table / f"{started:%Y%m%dT%H%M%S}-{report.run_id[:8]}.html"


def _to_json(report: ValidationReport) -> dict[str, Any]:
    return {
        **{f.name: getattr(report, f.name) for f in dataclasses.fields(report)},
        "results": [to_jsonable(dataclasses.asdict(r)) for r in report.results],
        "failing": None,  # the page shows results and samples, not the row mask
        "started": report.started.isoformat(),
    }


def _from_json(data: dict[str, Any]) -> ValidationReport:
    return ValidationReport(
        **{
            **data,
            "results": [CheckResult(**r) for r in data["results"]],
            "started": dt.datetime.fromisoformat(data["started"]),
        }
    )


class DocsWriter:
    """Draws data-docs pages in worker processes; a context manager that waits on exit."""

    def __init__(self) -> None:
        self._jobs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def submit(self, reports: Sequence[ValidationReport], directory: str | Path) -> list[Path]:
        """Start drawing ``reports`` into ``directory``; the paths the pages will have."""
        if not reports:
            return []
        handle = tempfile.NamedTemporaryFile(
            "w", suffix=".json", prefix="lakestacks-docs-", delete=False
        )
        with handle:
            json.dump(
                {"directory": str(directory), "reports": [_to_json(r) for r in reports]}, handle
            )
        worker = subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
            [sys.executable, "-m", "lakestacks.quality.docs", handle.name],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self._jobs.append((worker, Path(handle.name)))
        return [docs_path(r, directory) for r in reports]

    def close(self) -> None:
        """Wait for every worker; raise if one failed."""
        jobs, self._jobs = self._jobs, []
        errors = []
        for worker, spec in jobs:
            _, err = worker.communicate()
            spec.unlink(missing_ok=True)
            if worker.returncode:
                errors.append(err.decode(errors="replace").strip().splitlines()[-1:])
        if errors:
            raise LakestacksError(f"drawing the data-docs pages failed: {errors[0]}")

    def __enter__(self) -> DocsWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:  # the run failed anyway: finish the pages quietly, report the run's error
            try:
                self.close()
            except LakestacksError:
                pass


def _main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    for data in spec["reports"]:
        write_data_docs(_from_json(data), spec["directory"])


if __name__ == "__main__":
    _main(sys.argv[1])
