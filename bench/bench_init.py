"""From nothing to a champion: `stacks init` then the first `stacks run` in the new project.

Each repeat makes a new project in a temp folder (tabular-classifier, no input) and runs its
pipeline on the embedded defaults (20,000 sample rows, up to 20 epochs with early stopping),
each command a new process. Goal: init + first run under 60 s on the 2-core machine. The
baseline in the same run is `copier copy` of the same template folder (the rendering alone),
so the ratio shows what `stacks init` adds to Copier (name checks, flows, CI, the record).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
GOAL = 60.0
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _timed(argv: list[str], cwd: Path) -> float:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    rows: dict[str, list[float]] = {"copier copy": [], "stacks init": [], "first stacks run": []}
    for _ in range(REPEATS):
        with tempfile.TemporaryDirectory(prefix="bench-init-") as tmp:
            folder = Path(tmp)
            copier = [str(BIN / "copier"), "copy", "--defaults", "--quiet"]
            data = ["-d", "project_name=plain", "-d", "package=plain"]
            rows["copier copy"].append(
                _timed([*copier, *data, str(ROOT / "templates/tabular"), "plain"], folder)
            )
            init = [str(BIN / "stacks"), "init", "acme", "--no-input"]
            rows["stacks init"].append(_timed(init, folder))
            rows["first stacks run"].append(_timed([str(BIN / "stacks"), "run"], folder / "acme"))
    med = {k: statistics.median(v) for k, v in rows.items()}
    total = med["stacks init"] + med["first stacks run"]
    print(f"init -> first run, new project each time, median of {REPEATS}")
    print(f"{'step':28} {'median s':>9}  runs")
    for name, times in rows.items():
        print(f"{name:28} {med[name]:9.2f}  {' '.join(f'{t:.2f}' for t in times)}")
    print(f"stacks init / copier copy: {med['stacks init'] / med['copier copy']:.2f}")
    print(f"init + first run: {total:.1f} s (goal < {GOAL:.0f} s)")


if __name__ == "__main__":
    main()
