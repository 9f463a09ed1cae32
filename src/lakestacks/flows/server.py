"""A local Prefect server and process worker on loopback, for users who have no server.

`stacks server start` starts both as background processes in their own sessions and writes
their PIDs, URL and log paths to ``$STACKS_HOME/server.json`` (default ``~/.lakestacks``);
`stacks server stop` stops them by PID. When ``PREFECT_API_URL`` is set, that server is
used and only the worker is started. Telemetry is off in both processes and in every flow
run the worker starts. Prefect itself is not imported here: the processes are its CLI, and
readiness is checked over HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lakestacks.errors import UserError
from lakestacks.flows._runner import TELEMETRY_OFF

__all__ = [
    "DEFAULT_POOL",
    "DEFAULT_PORT",
    "ServerState",
    "local_api_url",
    "quiet_env",
    "start",
    "status",
    "stop",
]

DEFAULT_PORT = 4200
DEFAULT_POOL = "process"
_STATE = "server.json"
_LIVE = ("server_alive", "worker_alive", "healthy")  # found out on reading, never stored


def quiet_env() -> dict[str, str]:
    """Variables that turn off telemetry and tips, for every Prefect process we start."""
    return {
        **TELEMETRY_OFF,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_CLI_PROMPT": "false",
    }


@dataclass
class ServerState:
    """The local server and worker: where they listen, their PIDs, whether they are alive."""

    url: str
    pool: str
    home: str
    server_pid: int | None = None  # None: an external server (PREFECT_API_URL)
    worker_pid: int | None = None
    server_log: str | None = None
    worker_log: str | None = None
    server_alive: bool = False
    worker_alive: bool = False
    healthy: bool = False

    @property
    def external(self) -> bool:
        """The server is the user's (PREFECT_API_URL), not one we started."""
        return self.server_pid is None


def _home() -> Path:
    return Path(os.environ.get("STACKS_HOME", "~/.lakestacks")).expanduser()


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) is not alive
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - loopback or the user's API
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _read_state() -> ServerState | None:
    path = _home() / _STATE
    if not path.is_file():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    known = set(ServerState.__dataclass_fields__) - set(_LIVE)
    state = ServerState(**{k: v for k, v in data.items() if k in known})
    state.server_alive = state.external or _alive(state.server_pid)
    state.worker_alive = _alive(state.worker_pid)
    state.healthy = state.server_alive and _healthy(state.url)
    return state


def _write_state(state: ServerState) -> None:
    path = _home() / _STATE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in asdict(state).items() if k not in _LIVE}
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(data, indent=2))
    partial.replace(path)


def local_api_url() -> str | None:
    """The API URL of a running server started by `stacks server start`, or None."""
    state = _read_state()
    return state.url if state is not None and not state.external and state.server_alive else None


def status() -> ServerState | None:
    """The local server and worker as `stacks server start` left them, or None."""
    return _read_state()


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str], env: dict[str, str], log: Path) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter's prefect CLI
            [sys.executable, "-m", "prefect", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # outlives `stacks`; stopped as a group by PID
        )
    return process.pid


def _wait(ready: Callable[[], bool], pid: int, what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not _alive(pid) or time.monotonic() > deadline:
            _kill(pid)
            tail = (
                "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                if log.exists()
                else ""
            )
            raise UserError(
                f"the {what} did not start within {timeout:.0f} s; its log {log}:\n{tail}"
            )
        time.sleep(0.3)


def _worker_online(url: str, pool: str) -> bool:
    request = urllib.request.Request(  # noqa: S310 - loopback or the user's API
        f"{url}/work_pools/{pool}/workers/filter",
        data=b"{}",
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
            workers = json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return False
    return any(w.get("status") == "ONLINE" for w in workers)


def start(
    port: int = DEFAULT_PORT,
    pool: str = DEFAULT_POOL,
    host: str = "127.0.0.1",
    ui: bool = True,
    timeout: float = 120.0,
) -> ServerState:
    """Start a Prefect server (unless ``PREFECT_API_URL`` is set) and a process worker.

    ``port=0`` picks a free port. A server and worker already running are left as they are.

    Example:
        >>> start(port=0, ui=False).url  # doctest: +SKIP
        'http://127.0.0.1:40123/api'
    """
    current = _read_state()
    if current is not None and current.server_alive and current.worker_alive:
        return current
    if current is not None:
        stop()
    home = _home()
    env = {**os.environ, **quiet_env(), "PREFECT_HOME": str(home / "prefect")}
    external = os.environ.get("PREFECT_API_URL")
    server_pid = None
    server_log = home / "server.log"
    if external:
        url = external.rstrip("/")
        if not _healthy(url):
            raise UserError(
                f"PREFECT_API_URL is {url}, but no Prefect API answers there; start that "
                "server, or unset PREFECT_API_URL to start a local one"
            )
    else:
        port = port or _free_port(host)
        url = f"http://{host}:{port}/api"
        if _healthy(url):
            raise UserError(
                f"a Prefect server we did not start already answers at {url}; use it with "
                f"PREFECT_API_URL={url}, or pick another --port"
            )
        # The UI asks the server where its API is; left alone it answers :4200 whatever the
        # port, and the page stays blank.
        server_env = {
            **env,
            "PREFECT_UI_ENABLED": "true" if ui else "false",
            "PREFECT_UI_API_URL": url,
        }
        server_pid = _spawn(
            ["server", "start", "--host", host, "--port", str(port)], server_env, server_log
        )
        _wait(lambda: _healthy(url), server_pid, "Prefect server", server_log, timeout)
    worker_log = home / "worker.log"
    # Poll every 2 s (Prefect's default is 10 s): on loopback a poll is cheap, and it is
    # most of the time between a trigger and the run starting.
    worker_env = {**env, "PREFECT_API_URL": url, "PREFECT_WORKER_QUERY_SECONDS": "2"}
    worker_pid = _spawn(
        ["worker", "start", "--pool", pool, "--type", "process", "--install-policy", "never"],
        worker_env,
        worker_log,
    )
    state = ServerState(
        url=url,
        pool=pool,
        home=str(home),
        server_pid=server_pid,
        worker_pid=worker_pid,
        server_log=None if external else str(server_log),
        worker_log=str(worker_log),
    )
    _write_state(state)
    try:
        _wait(lambda: _worker_online(url, pool), worker_pid, "Prefect worker", worker_log, timeout)
    except UserError:
        _kill(server_pid)
        (home / _STATE).unlink(missing_ok=True)
        raise
    return _read_state() or state


def _kill(pid: int | None, grace: float = 20.0) -> bool:
    """Stop a process group we started: SIGTERM, then SIGKILL after ``grace`` seconds."""
    if not _alive(pid):
        return False
    assert pid is not None  # noqa: S101 - _alive(None) is False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return True


def stop() -> ServerState | None:
    """Stop the worker, then the server, by PID; None when nothing was started."""
    state = _read_state()
    if state is None:
        return None
    _kill(state.worker_pid)
    if not state.external:
        _kill(state.server_pid)
    (_home() / _STATE).unlink(missing_ok=True)
    state.server_alive = state.external
    state.worker_alive = state.healthy = False
    return state
