"""A real webhook receiver on 127.0.0.1 for tests: a ``ThreadingHTTPServer`` that answers
as a test tells it to (200, 500 a few times, always 500, 404, or not at all)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    """One POST as the receiver got it."""

    headers: dict[str, str]
    body: bytes
    status: int | None  # None: never answered (hung)


@dataclass
class Receiver:
    """How the test receiver answers, and what it got.

    ``fail_first`` answers ``fail_status`` that many times, then 200; ``always_fail`` never
    answers 2xx; ``hang`` holds each request until the test ends.
    """

    url: str = ""
    fail_first: int = 0
    always_fail: bool = False
    fail_status: int = 500
    hang: bool = False
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    def answer(self, headers: dict[str, str], body: bytes) -> int | None:
        with self.lock:
            if self.hang:
                status = None
            elif self.always_fail or self.fail_first > 0:
                self.fail_first -= 1
                status = self.fail_status
            else:
                status = 200
            self.requests.append(Received(headers, body, status))
        return status

    @property
    def delivered(self) -> list[Received]:
        with self.lock:
            return [r for r in self.requests if r.status == 200]

    def wait_for(self, count: int, seconds: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.005)
        raise AssertionError(f"receiver got {len(self.requests)} requests, wanted {count}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: Receiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        headers["path"] = self.path
        status = self.server.receiver.answer(headers, body)
        if status is None:
            self.server.receiver.release.wait(10)  # hang until the test is over
            return
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest's output clean


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A live HTTP receiver on 127.0.0.1 at a free port; set its fields to change answers."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hook")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    yield server.receiver
    server.receiver.release.set()
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A URL nothing listens on: a port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # urllib honours proxy variables; a CI proxy must not stand between us and 127.0.0.1.
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
