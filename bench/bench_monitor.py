"""Monitoring's cost: profile and drift of a wide table against a baseline, ours vs Evidently.

The same Parquet files are read by both, each in its own process (peak = that process's max
RSS, reading included) under a memory limit and a timeout: a current table of
BENCH_MONITOR_ROWS rows (default 10 M) x 50 columns (40 numeric, 10 categorical) against a
baseline of a tenth of that, with the same tests (a baseline over 1,000 rows: Wasserstein
normed by the baseline's std for numbers, Jensen-Shannon for categories, both at 0.1).
Evidently runs from its own virtual environment (BENCH_EVIDENTLY_PYTHON, or one made in a
temp folder with `pip install evidently "pandas<3"`), so its pins never touch ours. When it cannot
finish in BENCH_MONITOR_TIMEOUT seconds (600) or within the memory limit, the bench says so
and compares again at a tenth of the size. Goal: >= 20x faster, <= 1/4 of the peak memory.

Then the incremental case: the same current table as a Delta table of 100 hourly windows,
`stacks monitor` once over all of it, one more 100k-row window appended, and `stacks
monitor` again: the second run reads only the new window (its seconds are reported).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("BENCH_MONITOR_ROWS", "10000000"))
TIMEOUT = int(os.environ.get("BENCH_MONITOR_TIMEOUT", "600"))
MEMORY_GB = float(os.environ.get("BENCH_MONITOR_MEMORY_GB", "20"))
NUMERIC, CATEGORICAL = 40, 10
GOAL_SPEED, GOAL_MEMORY = 20.0, 0.25

MAKE = r"""
import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq
rows, path, seed, shift = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
rng = np.random.default_rng(seed)
columns = {}
for i in range(NUMERIC):
    columns[f"n{i}"] = rng.gamma(2.0 + i % 5, 3.0, rows) * (1 + shift * (i % 4 == 0))
for i in range(CATEGORICAL):
    p = np.array([0.5, 0.25, 0.15, 0.1])
    if shift and i % 3 == 0:
        p = p[::-1]
    columns[f"c{i}"] = pa.array(rng.choice(["a", "b", "c", "d"], rows, p=p))
pq.write_table(pa.table(columns), path, row_group_size=1_000_000)
""".replace("NUMERIC", str(NUMERIC)).replace("CATEGORICAL", str(CATEGORICAL))

OURS = r"""
import json, resource, sys, time
from datetime import datetime, UTC
import pyarrow as pa, pyarrow.parquet as pq
from lakestacks.monitoring.reference import summarise
from lakestacks.monitoring.windows import compute
start = time.perf_counter()
current, reference = pq.read_table(sys.argv[1]), pq.read_table(sys.argv[2])
columns = current.column_names
baseline = {c: summarise(c, reference[c]) for c in columns}
day = pa.timestamp("us", tz="UTC")
stamp = pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * current.num_rows, day)
found = compute(current.append_column("ts", stamp), timestamp="ts", seconds=86400,
                columns=columns, baseline=baseline)
drifted = sorted(r["column"] for r in found.drift.to_pylist() if r["drifted"])
print(json.dumps({"seconds": time.perf_counter() - start, "drifted": drifted,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

THEIRS = r"""
import json, resource, sys, time
import pandas as pd
start = time.perf_counter()
current, reference = pd.read_parquet(sys.argv[1]), pd.read_parquet(sys.argv[2])
try:
    from evidently import Report
    from evidently.presets import DataDriftPreset
    result = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    text = json.dumps(result.dict(), default=str)
except ImportError:  # Evidently before 0.7
    from evidently.metric_preset import DataDriftPreset
    from evidently.report import Report
    report = Report(metrics=[DataDriftPreset()])
    report.run(current_data=current, reference_data=reference)
    text = report.json()
print(json.dumps({"seconds": time.perf_counter() - start, "size": len(text),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _limit() -> None:
    import resource

    cap = int(MEMORY_GB * 1024**3)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _child(python: str, code: str, *args: str) -> dict[str, object]:
    try:
        done = subprocess.run(
            [python, "-c", code, *args], capture_output=True, text=True, timeout=TIMEOUT,
            preexec_fn=_limit, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return {"failed": f"did not finish within {TIMEOUT} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {done.returncode}: {tail[:200]}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _evidently(folder: Path) -> str:
    given = os.environ.get("BENCH_EVIDENTLY_PYTHON")
    if given:
        return given
    venv = folder / "evidently-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    # Evidently 0.7 imports a pandas helper that pandas 3 removed.
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "evidently",
           "pandas<3"]  # fmt: skip
    subprocess.run(pip, check=True, capture_output=True)
    return python


def _compare(
    folder: Path, rows: int, evidently: str
) -> tuple[dict[str, object], dict[str, object]]:
    current, reference = folder / f"current-{rows}.parquet", folder / f"reference-{rows}.parquet"
    subprocess.run([sys.executable, "-c", MAKE, str(rows), str(current), "1", "0.3"], check=True)
    subprocess.run(
        [sys.executable, "-c", MAKE, str(max(rows // 10, 1000)), str(reference), "2", "0"],
        check=True,
    )
    ours = _child(sys.executable, OURS, str(current), str(reference))
    theirs = _child(evidently, THEIRS, str(current), str(reference))
    return ours, theirs


def _incremental(folder: Path) -> tuple[float, float]:
    """Seconds of `stacks monitor` over 100 windows, then with one more window appended."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakestacks.data.tables import write_table

    project = folder / "project"
    lake = project / "lake"
    current = pq.read_table(folder / f"current-{ROWS}.parquet")
    base = pq.read_table(folder / f"reference-{ROWS}.parquet")
    start = 1_767_225_600_000_000  # 2026-01-01, in microseconds
    hour = 3_600_000_000
    per = max(current.num_rows // 100, 1)
    stamps = start + (np.arange(current.num_rows) // per) * hour
    live = current.append_column("ts", pa.array(stamps, pa.timestamp("us", tz="UTC")))
    write_table(str(lake / "main/bench/live"), live)
    write_table(str(lake / "main/bench/base"), base)
    (project / "live.csv").write_text("x\n1\n")
    (project / "base.csv").write_text("x\n1\n")
    (project / "stack.yaml").write_text(
        "version: 1\nname: bench\ncatalog: main.bench\n"
        "environments: {dev: {lake: ./lake}}\n"
        "data:\n  sources:\n    live: {path: live.csv}\n    base: {path: base.csv}\n"
        "monitoring:\n  table: live\n  baseline: base\n  timestamp: ts\n  granularity: 1h\n"
        "  on_breach: none\n"
    )
    argv = [str(Path(sys.executable).parent / "stacks"), "monitor", "--stack",
            str(project / "stack.yaml"), "--runner", "direct", "--json"]  # fmt: skip
    first = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    full = time.perf_counter() - first
    extra = current.slice(0, 100_000)
    later = start + 100 * hour + np.arange(extra.num_rows) * (hour // extra.num_rows)
    extra = extra.append_column("ts", pa.array(later, pa.timestamp("us", tz="UTC")))
    write_table(str(lake / "main/bench/live"), extra, mode="append")
    second = time.perf_counter()
    done = subprocess.run(argv, check=True, capture_output=True, text=True)
    assert '"windows"' in done.stdout
    return full, time.perf_counter() - second


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-monitor-") as tmp:
        folder = Path(tmp)
        evidently = _evidently(folder)
        print(f"profile and drift: {ROWS:,} rows x {NUMERIC + CATEGORICAL} columns against "
              f"{ROWS // 10:,}, timeout {TIMEOUT} s, memory limit {MEMORY_GB:g} GB")  # fmt: skip
        rows = ROWS
        while True:
            ours, theirs = _compare(folder, rows, evidently)
            print(f"{rows:>11,} rows  ours:      {ours}")
            print(f"{rows:>11,} rows  evidently: {theirs}")
            if "failed" not in theirs or rows <= 10_000:
                break
            rows //= 10
        if "failed" not in ours and "failed" not in theirs:
            speed = float(theirs["seconds"]) / float(ours["seconds"])  # type: ignore[arg-type]
            memory = float(ours["peak_mb"]) / float(theirs["peak_mb"])  # type: ignore[arg-type]
            verdict = "met" if speed >= GOAL_SPEED and memory <= GOAL_MEMORY else "NOT met"
            print(f"at {rows:,} rows: {speed:.1f}x faster, {memory:.2f}x the peak memory "
                  f"(goal >= {GOAL_SPEED:g}x, <= {GOAL_MEMORY:g}x): {verdict}")  # fmt: skip
        full, incremental = _incremental(folder)
        print(f"stacks monitor over {ROWS:,} rows in 100 windows: {full:.1f} s; after appending "
              f"one 100,000-row window: {incremental:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
