"""Online scoring: `stacks serve` against MLflow's own scoring server, same model, same load.

The quickstart's champion (trained by `stacks run --env test` into a temp lake) is served by
(a) `mlflow models serve -m models:/main.churn.churn_model/1 --env-manager local` (MLflow's
FastAPI scoring server, one uvicorn worker, its default) and (b) `stacks serve --env test`,
whose inference table (`inference_log`, Delta) is on, with its default durability
(`buffered`: rows in memory until the next write) and again with `wal` (each request's rows
fsync'd to a write-ahead file before the answer), to price the write-ahead log. One server runs at
a time; `wrk -t1`
(one core) loads it on loopback with a fixed POST body of real `features` rows (no nulls):
1 row at 8 and at 32 connections, 100 rows at 8 connections. Each measured run (BENCH_SECONDS,
default 15) follows a warm-up (BENCH_WARMUP, default 2 s). Numbers are only valid without
non-2xx answers or socket errors; any is printed loudly and the bench exits 1. The rows in
the inference table after a graceful stop (SIGTERM) are checked against what wrk completed.

Goal: stacks >= 3x MLflow's req/s in every scenario, with p99 no worse than MLflow's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
GOAL = 3.0
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MODEL = "main.churn.churn_model"
SCENARIOS = [("1 row, c=8", 1, 8), ("1 row, c=32", 1, 32), ("100 rows, c=8 (rows/s)", 100, 8)]
UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("{path}", "rb"))
wrk.body = f:read("*a")
f:close()
"""


@dataclass
class Load:
    per_s: float  # requests/s (x rows per request where that is reported)
    p50_ms: float
    p99_ms: float
    requests: int
    errors: str  # empty when none


@dataclass
class Served:
    loads: dict[str, Load]
    rows: int  # rows in the requests wrk completed, warm-ups and the first check included
    ready_s: float  # start to the first answer of GET /ping
    rss_mb: float  # after the runs
    exit: int
    output: str


def _wrk(url: str, lua: Path, conns: int, seconds: int) -> Load:
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    out = subprocess.run([*argv, "-s", str(lua), url], capture_output=True, text=True, check=True)
    text = out.stdout

    def find(pattern: str) -> str:
        match = re.search(pattern, text, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}{out.stderr}")
        return match[1]

    def ms(pattern: str) -> float:
        value = re.fullmatch(r"([\d.]+)(us|ms|s|m)", find(pattern))
        assert value is not None, pattern
        return float(value[1]) * UNITS_MS[value[2]]

    errors = [f"{m[1]} non-2xx" for m in re.finditer(r"Non-2xx or 3xx responses: (\d+)", text)]
    errors += [f"socket errors ({m[1]})" for m in re.finditer(r"Socket errors: (.*)", text)]
    return Load(
        float(find(r"^Requests/sec:\s+([\d.]+)")),
        ms(r"^\s+50%\s+(\S+)"),
        ms(r"^\s+99%\s+(\S+)"),
        int(find(r"^\s+(\d+) requests in")),
        "; ".join(errors),
    )


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its descendants (MLflow runs uvicorn as a child)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo += children.get(current, [])
        try:
            found = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{current}/status").read_text())
        except OSError:
            continue
        total += int(found[1]) if found else 0
    return total / 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 (loopback http)
        return dict(json.load(answer))


def _bench(
    argv: list[str], env: dict[str, str], port: int, bodies: dict[int, Path], log: Path
) -> Served:
    """Start a server, check one answer, load it scenario by scenario, stop it with SIGTERM."""
    base = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    with log.open("w") as sink:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        while True:
            if proc.poll() is not None:
                tail = log.read_text()[-3000:]
                raise RuntimeError(f"{argv[0]} exited {proc.returncode}:\n{tail}")
            try:
                urllib.request.urlopen(base + "/ping", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
        ready = time.perf_counter() - start
        answer = _post(base + "/invocations", bodies[100].read_bytes())
        assert len(answer["predictions"]) == 100, str(answer)[:500]
        loads, rows = {}, 100
        for name, size, conns in SCENARIOS:
            warm = _wrk(base + "/invocations", bodies[size].with_suffix(".lua"), conns, WARMUP)
            load = _wrk(base + "/invocations", bodies[size].with_suffix(".lua"), conns, SECONDS)
            load.per_s *= size
            if warm.errors:
                load.errors = f"warm-up: {warm.errors}; {load.errors}"
            rows += (warm.requests + load.requests) * size
            loads[name] = load
        rss = _rss_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)  # MLflow's child gets SIGTERM when its parent dies
        proc.wait(120)
    return Served(loads, rows, ready, rss, proc.returncode, log.read_text())


def main() -> None:
    if shutil.which("wrk") is None:
        print("install wrk: apt-get install wrk")
        sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        folder = Path(tmp)
        lake = folder / "lake"
        uri = f"sqlite:///{lake}/mlflow.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "PREFECT_"))}
        env.update(STACKS_TEST_LAKE=str(lake), MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # MLflow runs `uvicorn`
        stack = ["--stack", "stacks/quickstart.yaml", "--env", "test"]
        train = [str(BIN / "stacks"), "run", *stack]
        subprocess.run(train, cwd=ROOT, env=env, check=True, capture_output=True)
        env.update(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri)

        from lakestacks import registry
        from lakestacks.data.tables import read_table

        registry.configure(uri, None)
        columns = list(registry.load_model(MODEL, 1).columns)
        features = read_table(str(lake / "main/churn/features"), columns=columns).drop_null()
        data = [[row[c] for c in columns] for row in features.slice(0, 100).to_pylist()]
        bodies: dict[int, Path] = {}
        for size in (1, 100):
            bodies[size] = folder / f"body{size}.json"
            split = {"dataframe_split": {"columns": columns, "data": data[:size]}}
            bodies[size].write_text(json.dumps(split))
            bodies[size].with_suffix(".lua").write_text(LUA.format(path=bodies[size]))

        port = _free_port()
        mlflow = [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}/1"]
        mlflow += ["--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
        theirs = _bench(mlflow, env, port, bodies, folder / "mlflow.log")
        port = _free_port()
        ours = [str(BIN / "stacks"), "serve", *stack, "--port", str(port), "--json"]
        served = _bench(ours, env, port, bodies, folder / "stacks.log")
        logged = read_table(str(lake / "main/churn/inference_log"), columns=["status"])
        # The same server with durability: wal, from a copy of the stack beside it (its prep
        # module is found relative to the stack's folder).
        quick = ROOT / "stacks" / "quickstart.yaml"
        copy = quick.with_name(f".bench-wal-{os.getpid()}.yaml")
        copy.write_text(
            quick.read_text().replace(
                "serving: {inference_table: inference_log}",
                "serving: {inference_table: inference_log, log: {durability: wal}}",
            )
        )
        try:
            port = _free_port()
            argv = [*ours[:2], "--stack", str(copy), "--env", "test", "--port", str(port)]
            wal = _bench(argv, env, port, bodies, folder / "wal.log")
        finally:
            copy.unlink()
    # --json: one event per line; the last is "stopped"
    events = [json.loads(line) for line in served.output.splitlines() if line.startswith("{")]
    stopped: dict[str, Any] = next((e for e in events if e["event"] == "stopped"), {})

    print(f"stacks serve vs mlflow models serve, wrk -t1, {SECONDS} s after a {WARMUP} s warm-up")
    print(f"{'scenario':23} {'server':7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}  errors")
    failed = False
    for name, _, _ in SCENARIOS:
        m, s = theirs.loads[name], served.loads[name]
        for server, load in (("mlflow", m), ("stacks", s)):
            mark = f"!! {load.errors} !!" if load.errors else "0"
            failed |= bool(load.errors)
            numbers = f"{load.per_s:9.1f} {load.p50_ms:8.2f} {load.p99_ms:8.2f}"
            print(f"{name:23} {server:7} {numbers}  {mark}")
        x, p99 = s.per_s / m.per_s, s.p99_ms / m.p99_ms
        goal = "met" if x >= GOAL and p99 <= 1.0 else "NOT met"
        print(f"{'':23} stacks/mlflow: throughput {x:.2f}x, p99 {p99:.2f}x  goal {goal}")
    print(f"goal: stacks >= {GOAL:g}x MLflow's req/s, p99 no worse than MLflow's")
    print("the write-ahead log's cost (durability wal against buffered, the default):")
    for name, _, _ in SCENARIOS:
        b, w = served.loads[name], wal.loads[name]
        failed |= bool(w.errors)
        print(
            f"{name:23} wal {w.per_s:9.1f} req/s p99 {w.p99_ms:6.2f} ms: "
            f"{w.per_s / b.per_s:.2f}x the throughput, {w.p99_ms / b.p99_ms:.2f}x the p99"
        )
    print(f"ready (GET /ping) s: mlflow {theirs.ready_s:.1f}, stacks {served.ready_s:.1f}")
    print(f"RSS after the runs MB: mlflow {theirs.rss_mb:.0f}, stacks {served.rss_mb:.0f}")
    print("goals (issue 16): ready <= 2 s, RSS after the bench <= 600 MB, p99 <= 10x p50")
    print(f"exit after SIGTERM: mlflow {theirs.exit}, stacks {served.exit}")
    in_flight = sum(2 * size * conns for _, size, conns in SCENARIOS)  # at most, when wrk stops
    not_ok = sum(1 for status in logged["status"].to_pylist() if status != 200)
    print(f"inference table: {logged.num_rows:,} rows ({not_ok} not 200); wrk completed ", end="")
    print(f"{served.rows:,} rows ({logged.num_rows - served.rows:+,}; <= {in_flight:,} in flight)")
    log = stopped.get("inference_log") or {}
    print(f"stacks serve's summary: errors {stopped.get('errors', '?')}, inference table {log}")
    if not_ok or not served.rows <= logged.num_rows <= served.rows + in_flight:
        print("!! inference table rows off against wrk !!")
        failed = True
    unclean = served.exit != 0 or log.get("failed_writes") or log.get("spilled")
    if not stopped or unclean or stopped.get("errors"):
        print("!! stacks serve did not stop cleanly, or its summary reports errors !!")
        failed = True
    if failed:
        print("!! the numbers above are not valid: errors during the runs !!")
        sys.exit(1)


if __name__ == "__main__":
    main()
