"""uvicorn's HTTP protocol with the read limits it lacks (uvicorn#157).

uvicorn closes idle keep-alive connections, but a connection that never finishes its request
line and headers (slowloris), or never sends the body it announced, holds its socket forever;
20,000 of them fill the open-file limit and `/ping` fails for everyone. This protocol gives
each request a deadline for its headers and another for its body (408, then close; a new
connection that stays silent counts as slow headers), and answers 431 to request lines and
headers over a byte bound instead of buffering them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from lakestacks.spec.deployment import ServingLimits

__all__ = ["bounded_protocol"]


def _answer(status: str, code: str, message: str) -> bytes:
    """A whole JSON error response, written by the protocol itself (no app is involved)."""
    body = json.dumps({"error_code": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\nconnection: close\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _HeadersTooLarge(Exception):
    """Raised inside a parser callback to stop parsing; the 431 is already written."""


def bounded_protocol(limits: ServingLimits) -> type[asyncio.Protocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` that enforces ``limits``."""

    timeout = _answer(
        "408 Request Timeout",
        "REQUEST_TIMEOUT",
        f"the request's headers must arrive within {limits.header_seconds:g} s and its body "
        f"within {limits.body_seconds:g} s",
    )
    too_large = _answer(
        "431 Request Header Fields Too Large",
        "HEADERS_TOO_LARGE",
        f"the request line and headers are over {limits.max_header_bytes} bytes",
    )

    stopping = _answer(
        "503 Service Unavailable",
        "SHUTTING_DOWN",
        "the server is stopping and the request had not arrived whole; send it again",
    )

    class _Bounded(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _answered = False

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            cycle = self.cycle
            if cycle is None or cycle.response_complete or not cycle.response_started:
                self.transport.write(timeout)
                self._answered = True
            self.transport.close()  # a body being awaited sees a disconnect (499)

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(limits.header_seconds)  # until the first request's headers are in

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._header_bytes = 0
            self._arm(limits.header_seconds)

        def _count(self, size: int) -> None:
            self._header_bytes += size
            if self._header_bytes > limits.max_header_bytes:
                self.transport.write(too_large)
                self._answered = True
                self.transport.close()
                raise _HeadersTooLarge

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(limits.body_seconds)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def shutdown(self) -> None:
            # A request whose body is still arriving cannot finish within the grace period by
            # anything the server does; waiting for it would only delay writing the log.
            cycle = self.cycle
            if cycle is not None and cycle.more_body and not cycle.response_started:
                self._disarm()
                self.transport.write(stopping)
                self._answered = True
                self.transport.close()
                return
            super().shutdown()

        def send_400_response(self, msg: str) -> None:
            if not self._answered:  # a 431 or 408 went out already
                super().send_400_response(msg)

    return _Bounded
