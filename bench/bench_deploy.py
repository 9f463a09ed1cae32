"""A deployed pipeline run, from trigger to completion, against the same `stacks run` locally.

A new project (`stacks init`, tabular-classifier) is deployed to a local Prefect server and
process worker (`stacks server start`, loopback, UI off). Each repeat times, as new
processes, `stacks run --env test` (direct runner: the local baseline) and `stacks trigger
pipeline --env test --wait` (the API call, the worker's poll, a flow-run process, the same
pipeline as Prefect tasks). The server's own view, the run's start to end, is shown too.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start, done.stdout


def _server_seconds(url: str, flow_run_id: str) -> tuple[float, float]:
    """(scheduled -> start, start -> end) of a flow run, as the server recorded them."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(flow_run_id))
    assert run.start_time and run.end_time and run.expected_start_time
    wait = (run.start_time - run.expected_start_time).total_seconds()
    return wait, (run.end_time - run.start_time).total_seconds()


def main() -> None:
    rows: dict[str, list[float]] = {
        "stacks run (local, direct)": [],
        "trigger -> completed (CLI)": [],
        "  queued -> running (server)": [],
        "  running -> done (server)": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        folder = Path(tmp)
        env = {
            **{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"},
            "STACKS_HOME": str(folder / "home"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
        }
        stacks = str(BIN / "stacks")
        _run([stacks, "init", "acme", "--no-input", "--ci", "none"], folder, env)
        project = folder / "acme"
        _, out = _run([stacks, "server", "start", "--port", "0", "--no-ui", "--json"], project, env)
        url = json.loads(out)["url"]
        try:
            _run([stacks, "deploy", "--env", "test"], project, env)
            for _ in range(REPEATS):
                local, _ = _run([stacks, "run", "--env", "test"], project, env)
                rows["stacks run (local, direct)"].append(local)
                trigger = [stacks, "trigger", "pipeline", "--env", "test", "--wait", "--json"]
                deployed, out = _run(trigger, project, env)
                rows["trigger -> completed (CLI)"].append(deployed)
                wait, ran = _server_seconds(url, json.loads(out)["flow_run_id"])
                rows["  queued -> running (server)"].append(wait)
                rows["  running -> done (server)"].append(ran)
        finally:
            _run([stacks, "server", "stop"], project, env)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"deployed pipeline vs local stacks run (env test), median of {REPEATS}")
    print(f"{'what':30} {'median s':>9}  runs")
    for name, times in rows.items():
        print(f"{name:30} {med[name]:9.2f}  {' '.join(f'{t:.2f}' for t in times)}")
    ratio = med["trigger -> completed (CLI)"] / med["stacks run (local, direct)"]
    print(f"deployed / local: {ratio:.2f}")


if __name__ == "__main__":
    main()
