"""The quickstart pipeline end to end: `stacks run` vs a hand-written script, same run.

Both do the whole quickstart from a new process on a new, empty lake: generate 20,000
customers, prep, validate (6 checks), quarantine, split, Delta commits; train the MLP
(early stopping on val_loss); MLflow in SQLite (params, per-epoch metrics, checkpoint,
pyfunc model), register, evaluate as a pyfunc on the test split, gates, champion alias,
batch-score ``features`` into ``predictions``. The variants alternate, a warm-up of each
first (page cache), then BENCH_REPEATS (default 3) timed runs of each; medians compared.

- baseline: ``python bench/baseline_pipeline.py LAKE`` (see its docstring for what it does
  not do: no Great Expectations data docs, no ``_audit``/``_decisions`` tables); what
  importing great_expectations would add to it is measured too, and a second ratio printed;
- ``stacks run -s <tmp>/quickstart.yaml --runner direct``, with the stack and its prep
  function copied into a temp folder so its lake (``./.lake``) is a new one there.

Goal: stacks / baseline <= 1.25. Both print their epoch count, so the reader can check they
trained the same: same data, split, seed and batch order give the same early stop.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "1"))
GOAL = 1.25
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIN = Path(sys.executable).parent
EPOCHS = re.compile(r"\((?:classification|regression),\s+(\d+)\s+epochs[,)]")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.pop("STACKS_RUNNER", None)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", COLUMNS="200")
    return env


def _timed(argv: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def run_stacks() -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as tmp:
        folder = Path(tmp)
        for name in ("quickstart.yaml", "churn_features.py"):
            shutil.copy(ROOT / "stacks" / name, folder / name)
        argv = [str(BIN / "stacks"), "run", "-s", str(folder / "quickstart.yaml")]
        seconds, out = _timed([*argv, "--runner", "direct"], folder)
    found = EPOCHS.search(out)
    if found is None or "is the champion" not in out:
        raise RuntimeError(f"stacks run did not train and promote:\n{out}")
    return seconds, int(found.group(1))


def run_baseline() -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as tmp:
        argv = [sys.executable, str(HERE / "baseline_pipeline.py"), str(Path(tmp) / "lake")]
        seconds, out = _timed(argv, Path(tmp))
    result = json.loads(out.strip().splitlines()[-1])
    if not result["promoted"]:
        raise RuntimeError(f"the baseline did not promote its model: {result}")
    return seconds, int(result["epochs"])


GX_IMPORT = (
    "import time, deltalake, lightning.pytorch, mlflow, mlflow.pyfunc, pandas\n"
    "start = time.perf_counter()\n"
    "import great_expectations\n"
    "print(time.perf_counter() - start)"
)


def run_gx_import() -> tuple[float, int]:
    """What importing Great Expectations adds once the pipeline's other libraries are in."""
    with tempfile.TemporaryDirectory(prefix="bench-gx-") as tmp:
        _, out = _timed([sys.executable, "-c", GX_IMPORT], Path(tmp))
    return float(out.strip().splitlines()[-1]), 0


def main() -> None:
    variants = {
        "hand-written script (baseline)": run_baseline,
        "stacks run --runner direct": run_stacks,
        "import great_expectations": run_gx_import,
    }
    for _ in range(WARMUP):
        for fn in variants.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    epochs: dict[str, set[int]] = {name: set() for name in variants}
    for _ in range(REPEATS):
        for name, fn in variants.items():  # alternating: drift hits every variant alike
            seconds, n = fn()
            times[name].append(seconds)
            epochs[name].add(n)
    medians = {name: statistics.median(t) for name, t in times.items()}
    base = medians["hand-written script (baseline)"]
    stacks = medians["stacks run --runner direct"]
    gx = medians["import great_expectations"]
    print(
        f"quickstart pipeline end to end (20,000 customers), new process and new lake per run, "
        f"median of {REPEATS} alternating runs after {WARMUP} warm-up(s) each"
    )
    print(f"{'variant':32} {'median s':>9} {'ratio':>6} {'epochs':>7}  runs")
    for name in ("hand-written script (baseline)", "stacks run --runner direct"):
        runs = " ".join(f"{t:.2f}" for t in times[name])
        shown = ",".join(str(e) for e in sorted(epochs[name]))
        print(f"{name:32} {medians[name]:9.2f} {medians[name] / base:6.2f} {shown:>7}  {runs}")
    if epochs["hand-written script (baseline)"] != epochs["stacks run --runner direct"]:
        print("NOTE: the epoch counts differ, so the training work differs")
    print(f"ratio (stacks / baseline): {stacks / base:.2f}  (goal <= {GOAL})")
    print(
        f"the baseline renders no Great Expectations data docs; importing great_expectations "
        f"adds {gx:.2f} s to a process that has the other libraries loaded: "
        f"stacks / (baseline + that import) = {stacks / (base + gx):.2f}"
    )


if __name__ == "__main__":
    main()
