"""Cold start of `stacks --help` beside `prefect --help` and `mlflow --help`, in one run.

Each command runs in a new process; the first run of each warms the disk cache and is
dropped, then the median of the rest is reported with the ratio to `stacks --help`.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "7"))
BIN = Path(sys.executable).parent
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1",
       "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
STACK = str(Path(__file__).resolve().parents[1] / "stacks" / "quickstart.yaml")

COMMANDS = {
    "stacks --help": [str(BIN / "stacks"), "--help"],
    "stacks validate quickstart": [str(BIN / "stacks"), "validate", STACK],
    "prefect --help": [str(BIN / "prefect"), "--help"],
    "mlflow --help": [str(BIN / "mlflow"), "--help"],
}


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    medians: dict[str, float] = {}
    for name, argv in COMMANDS.items():
        wall(argv)
        times = [wall(argv) for _ in range(RUNS)]
        medians[name] = statistics.median(times)
    base = medians["stacks --help"]
    print(f"{'command':30} {'median s':>9} {'ratio':>7}")
    for name, median in medians.items():
        print(f"{name:30} {median:9.3f} {median / base:7.1f}")


if __name__ == "__main__":
    main()
