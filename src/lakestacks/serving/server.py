"""Run the app on uvicorn: bind first (so port 0 works and the URL is known), load the
models, serve until SIGINT/SIGTERM, and shut down gracefully with the log flushed."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

from lakestacks.errors import UserError
from lakestacks.serving.app import ServingApp
from lakestacks.serving.config import ServeConfig
from lakestacks.serving.endpoints import load_endpoints
from lakestacks.serving.inference_log import InferenceLog, LogStats
from lakestacks.serving.loading import Models

__all__ = ["ServeSummary", "running", "serve"]


@dataclass(frozen=True)
class ServeSummary:
    """What a server did, for the summary after it stops."""

    url: str
    endpoints: dict[str, Any]
    errors: dict[int, int]
    log: LogStats | None


def _bind(host: str, port: int, tls: bool = False) -> tuple[socket.socket, str]:
    """A listening socket (bound first, so port 0 works) and its URL."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port} ({err.strerror}); pick another --port (0: any free)"
        ) from None
    sock.listen(2048)
    bound, chosen = sock.getsockname()[:2]
    scheme = "https" if tls else "http"
    return sock, f"{scheme}://{'[' + bound + ']' if ':' in bound else bound}:{chosen}"


def _check_tls(tls: tuple[str, str] | None) -> None:
    """A certificate and key that load, or one clear error before anything starts."""
    if tls is None:
        return
    import ssl

    certfile, keyfile = tls
    for what, path in (("--ssl-certfile", certfile), ("--ssl-keyfile", keyfile)):
        if not os.path.isfile(path):
            raise UserError(f"{what} {path}: no such file")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(certfile, keyfile)
    except (ssl.SSLError, OSError) as err:
        raise UserError(
            f"cannot use {certfile} with {keyfile} for TLS ({err}); give a PEM certificate "
            "and its matching private key, unencrypted"
        ) from None


def build(config: ServeConfig, on_event: Callable[[str], None] | None = None) -> ServingApp:
    """Load the models and open the inference log: a ServingApp ready to run."""
    models = Models(config.tracking_uri, config.registry_uri)
    endpoints = load_endpoints(config.endpoints, config.max_batch_rows, models)
    log = InferenceLog(config.log) if config.log is not None else None
    return ServingApp(config, endpoints, log, on_event)


def _connection_cap(wanted: int) -> int:
    """``wanted``, lowered to fit the open-file limit (raised to its hard maximum first): past
    the cap new requests get 503, while past the file limit nobody gets in at all."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or hard > soft):
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    except ImportError:  # not POSIX
        return wanted
    if soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - 128))  # room for the model, Delta and the log


def _uvicorn(app: ServingApp, ready: Callable[[], None]) -> Any:
    import importlib.util

    import uvicorn

    from lakestacks.serving._http import bounded_protocol

    limits = app.config.limits

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                ready()

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # uvicorn re-raises the signal after a graceful shutdown, which would kill the
            # process before it reports; a second Ctrl+C still forces the exit.
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True
            self.should_exit = True
            if app.log is not None:
                app.log.flush_now()  # what was answered is written before slow requests end

    has = importlib.util.find_spec
    config = uvicorn.Config(
        app.asgi,
        loop="uvloop" if has("uvloop") else "asyncio",
        # h11 bounds headers itself but has no read timeouts: httptools is a dependency.
        http=bounded_protocol(limits) if has("httptools") else "h11",
        h11_max_incomplete_event_size=limits.max_header_bytes,
        lifespan="on",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_keep_alive=max(1, round(limits.idle_seconds)),
        timeout_graceful_shutdown=max(1, round(limits.graceful_seconds)),
        limit_concurrency=_connection_cap(limits.max_connections),
        ssl_certfile=app.config.tls[0] if app.config.tls else None,
        ssl_keyfile=app.config.tls[1] if app.config.tls else None,
    )
    return _Server(config)


def _summary(app: ServingApp, url: str) -> ServeSummary:
    return ServeSummary(url, app.describe()["endpoints"], dict(app.totals.errors), app.log_stats)


def serve(
    config: ServeConfig,
    on_ready: Callable[[str, dict[str, Any]], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> ServeSummary:
    """Serve until SIGINT or SIGTERM; in-flight requests finish and the log is written.

    ``on_ready(url, description)`` is called once the server answers.
    """
    _check_tls(config.tls)
    sock, url = _bind(config.host, config.port, config.tls is not None)
    try:
        app = build(config, on_event)
        # What is loaded now lives as long as the process: out of the collector's full
        # passes, which would otherwise scan it again and again under load (tail latency).
        gc.collect()
        gc.freeze()
        server = _uvicorn(app, lambda: on_ready(url, app.describe()) if on_ready else None)
        server.run(sockets=[sock])
    finally:
        sock.close()
    return _summary(app, url)


@contextlib.contextmanager
def running(config: ServeConfig) -> Iterator[tuple[str, ServingApp]]:
    """Serve in a background thread (for tests and notebooks); stops gracefully on exit."""
    _check_tls(config.tls)
    sock, url = _bind(config.host, config.port, config.tls is not None)
    try:
        app = build(config)
        started = threading.Event()
        server = _uvicorn(app, started.set)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            if not started.wait(60):
                raise RuntimeError("the server did not start within 60 s")
            yield url, app
        finally:
            server.should_exit = True
            thread.join(60)
    finally:
        sock.close()
