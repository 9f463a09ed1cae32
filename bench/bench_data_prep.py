"""`stacks run data_prep` on the quickstart vs the same stage functions in a hand-written script.

All variants run in new processes (imports included) on a fresh lake each time:
- baseline: a script calling read_source, the prep function, validate, assign_split and
  write_table directly;
- `stacks run data_prep --runner direct` (the embedded default without a Prefect API);
- `stacks run data_prep --runner prefect` against a long-lived local Prefect server
  (started once here, as `prefect server start` would be).
"""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
BIN = Path(sys.executable).parent
STACK = Path(__file__).resolve().parents[1] / "stacks" / "quickstart.yaml"

BASELINE = r"""
import sys
from lakestacks.spec import load_stack
from lakestacks.data.sources import read_source
from lakestacks.data.split import assign_split
from lakestacks.data.tables import write_table
from lakestacks.quality import validate
from lakestacks.spec._refs import load_ref
import pyarrow.compute as pc

resolved = load_stack(sys.argv[1], "test")
data, cat = resolved.stack.data, resolved.catalog
search = [str(resolved.base_dir)]
raw = read_source("customers", data.sources["customers"], cat, search)
features = load_ref(data.prep[0].function, search)(customers=raw)
report = validate("features", features, data.expectations["features"])
features = features.filter(pc.invert(report.failing))
features = assign_split(features, "customer_id", 0.2, 0.1, 7)
write_table(cat.table_path("customers"), raw)
write_table(cat.table_path("features"), features, mode="merge", keys=["customer_id"])
"""


def _timed(argv: list[str], env: dict[str, str], lake: Path) -> float:
    shutil.rmtree(lake, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def _server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api"
    for _ in range(180):
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):  # noqa: S310 - loopback
                return server, url
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("prefect server did not start")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        env = {**os.environ, "STACKS_TEST_LAKE": str(lake), "MLFLOW_DISABLE_TELEMETRY": "true",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}  # fmt: skip
        env.pop("PREFECT_API_URL", None)
        server, url = _server(Path(tmp) / "prefect")
        try:
            stacks = [str(BIN / "stacks"), "run", "data_prep", "-s", str(STACK), "--env", "test"]
            variants = {
                "stage functions (script)": ([sys.executable, "-c", BASELINE, str(STACK)], env),
                "stacks run --runner direct": ([*stacks, "--runner", "direct"], env),
                "stacks run --runner prefect": (
                    [*stacks, "--runner", "prefect"],
                    {**env, "PREFECT_API_URL": url},
                ),
            }
            medians = {}
            for name, (argv, variant_env) in variants.items():
                _timed(argv, variant_env, lake)  # warm-up
                medians[name] = statistics.median(
                    _timed(argv, variant_env, lake) for _ in range(RUNS)
                )
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = medians["stage functions (script)"]
    print(f"quickstart data_prep (20,000 rows), median of {RUNS} new processes")
    print(f"{'variant':32} {'seconds':>8} {'ratio':>6}")
    for name, seconds in medians.items():
        print(f"{name:32} {seconds:8.2f} {seconds / base:6.2f}")


if __name__ == "__main__":
    main()
