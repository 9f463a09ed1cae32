"""Webhook delivery: each event as a signed JSON POST, from a background thread, with retries.

Delivery never blocks or fails the caller: :meth:`WebhookSender.send` queues and returns, a
daemon thread does the HTTP, and what could not be delivered becomes a
:class:`~lakestacks.events.failures.DeliveryFailure`. The standard library does the HTTP
(``urllib.request``, which honours ``HTTPS_PROXY``/``NO_PROXY``), so this adds no dependency.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import itertools
import logging
import queue
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

from lakestacks import __version__
from lakestacks.events.event import Event
from lakestacks.events.failures import DeliveryFailure
from lakestacks.spec.notifications import Webhook, redact_url

__all__ = ["USER_AGENT", "WebhookSender", "signature"]

USER_AGENT = f"lakestacks/{__version__}"

_log = logging.getLogger("lakestacks.events")

# A receiver's answer is read only so the connection closes cleanly; nothing uses it.
_MAX_ANSWER_BYTES = 64 * 1024
# Caps on waits between attempts: a long Retry-After or a large backoff must not hold the
# worker for longer than a receiver is worth; close() bounds the total anyway.
_MAX_DELAY_SECONDS = 60.0


def signature(secret: str, body: bytes) -> str:
    """The ``X-Stacks-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of the body.

    A receiver recomputes it over the raw body it got and compares with
    ``hmac.compare_digest``.

    Example:
        >>> signature("key", b"{}")[:15]
        'sha256=a777724d'
    """
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclass
class _Job:
    seq: int
    event: Event
    body: bytes
    headers: dict[str, str]
    attempts: int = 0
    last_error: str = ""


@dataclass(frozen=True)
class _Outcome:
    ok: bool
    error: str = ""
    retry: bool = False
    retry_after: float = 0.0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not a new target: following it would turn the POST into a
    GET (301/302/303) or send the body to a host the stack never named."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: Message,
        newurl: str,
    ) -> None:
        return None


def _retry_after(value: str | None) -> float:
    try:
        return min(max(float(value or 0), 0.0), _MAX_DELAY_SECONDS)
    except ValueError:
        return 0.0  # the HTTP-date form: fall back to our own backoff


class WebhookSender:
    """Delivers events to one webhook, in order, from its own daemon thread.

    The thread starts with the first event the webhook selects, so a sender that is never
    used costs nothing. A connection error, a timeout, HTTP 429 or 5xx is retried after
    ``backoff_seconds``, doubling each time, up to ``retries`` times; other answers outside
    2xx are final (a 3xx too: redirects are not followed). Every attempt carries the same
    ``X-Event-Id``.

    Args:
        webhook: The webhook as the stack declares it (secrets already interpolated).
        on_failure: Called with each failure as it is recorded, from whichever thread
            records it; must not raise. Default: log a warning.

    Example:
        >>> sender = WebhookSender(Webhook(url="http://127.0.0.1:9/hook", retries=0))
        >>> sender.send(Event(type=EventType.PROMOTED, stack="s", env="dev"))  # doctest: +SKIP
        True
        >>> [f.error for f in sender.close(wait_seconds=2)]  # doctest: +SKIP
        ['connection failed: [Errno 111] Connection refused']
    """

    def __init__(
        self,
        webhook: Webhook,
        *,
        on_failure: Callable[[DeliveryFailure], None] | None = None,
    ) -> None:
        self._webhook = webhook
        self._url = redact_url(webhook.url)
        self._events = frozenset(webhook.events)
        self._on_failure = on_failure or (lambda failure: _log.warning(failure.describe()))
        self._opener = urllib.request.build_opener(_NoRedirects)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._open: dict[int, _Job] = {}  # queued or in flight, by seq
        self._failures: list[DeliveryFailure] = []
        self._delivered = 0
        self._closed = False
        self._abandon = threading.Event()  # set when close() stops waiting
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The webhook's URL as it may be shown: no user info, query or fragment."""
        return self._url

    @property
    def delivered(self) -> int:
        """Events delivered so far (a 2xx answer)."""
        with self._lock:
            return self._delivered

    @property
    def failures(self) -> list[DeliveryFailure]:
        """Deliveries that failed so far, oldest first."""
        with self._lock:
            return list(self._failures)

    def wants(self, event: Event) -> bool:
        """Whether the webhook's ``events`` filter selects this event."""
        return event.type in self._events

    def send(self, event: Event) -> bool:
        """Queue an event for delivery and return at once.

        Returns:
            Whether it was queued: False when the filter leaves it out, or (recorded as a
            failure) when the sender is already closed.
        """
        if not self.wants(event):
            return False
        body = event.to_json()
        job = _Job(-1, event, body, self._headers(event, body))
        with self._lock:
            if self._closed:
                failure = self._failure(job, "emitted after the dispatcher closed")
                self._failures.append(failure)
            else:
                failure = None
                job.seq = next(self._seq)
                self._open[job.seq] = job
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._work, name=f"lakestacks-webhook {self._url}", daemon=True
                    )
                    self._thread.start()
                # Under the lock, so a job can never land behind close()'s stop marker.
                self._queue.put(job)
        if failure is not None:
            self._report(failure)
            return False
        return True

    def close(self, wait_seconds: float) -> list[DeliveryFailure]:
        """Wait at most ``wait_seconds`` for queued deliveries, then give up on the rest.

        What is still queued or in flight then counts as failed ("not delivered before
        exit"); an attempt in flight finishes in its daemon thread but changes nothing.
        Calling it again returns the same failures.

        Returns:
            Every failure of this sender, oldest first.
        """
        with self._lock:
            first = not self._closed
            self._closed = True
            thread = self._thread
        if first and thread is not None:
            self._queue.put(None)
            thread.join(max(wait_seconds, 0.0))
            self._abandon.set()  # a worker still busy stops before its next attempt
        with self._lock:
            left = [self._open[seq] for seq in sorted(self._open)]
            self._open.clear()
            given_up = [
                self._failure(
                    job,
                    f"not delivered before exit (waited {wait_seconds:g} s"
                    + (f"; last error: {job.last_error})" if job.last_error else ")"),
                )
                for job in left
            ]
            self._failures += given_up
        for failure in given_up:
            self._report(failure)
        return self.failures

    def _headers(self, event: Event, body: bytes) -> dict[str, str]:
        headers = {
            **self._webhook.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-Event-Id": event.id,
            "X-Stacks-Event": event.type.value,
        }
        if self._webhook.secret:
            headers["X-Stacks-Signature"] = signature(self._webhook.secret, body)
        return headers

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                error = self._deliver(job)
            except Exception as err:  # a bug here must not kill the thread and strand the queue
                error = f"internal error: {type(err).__name__}: {err}"
            self._finish(job, error)

    def _deliver(self, job: _Job) -> str | None:
        """Attempt until delivered (None), out of retries, or abandoned; the last error."""
        hook = self._webhook
        for attempt in range(1, hook.retries + 2):
            if self._abandon.is_set():
                break
            with self._lock:
                job.attempts = attempt
            outcome = self._attempt(job)
            if outcome.ok:
                return None
            with self._lock:
                job.last_error = outcome.error
            if not outcome.retry or attempt > hook.retries:
                break
            delay = min(hook.backoff_seconds * 2 ** (attempt - 1), _MAX_DELAY_SECONDS)
            if self._abandon.wait(max(delay, outcome.retry_after)):
                break
        return job.last_error or "not attempted"

    def _attempt(self, job: _Job) -> _Outcome:
        timeout = self._webhook.timeout_seconds
        request = urllib.request.Request(  # noqa: S310 -- the spec admits http(s) URLs only
            self._webhook.url, data=job.body, headers=job.headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=timeout) as answer:
                answer.read(_MAX_ANSWER_BYTES)
            return _Outcome(ok=True)
        except urllib.error.HTTPError as err:
            code = err.code
            err.close()
            retry = code == 429 or code >= 500
            why = "redirects are not followed" if 300 <= code < 400 else err.reason
            text = f"HTTP {code} {why}".rstrip() + ("" if retry else " (not retried)")
            return _Outcome(False, text, retry, _retry_after(err.headers.get("Retry-After")))
        except TimeoutError:
            return _Outcome(False, f"no answer within {timeout:g} s", retry=True)
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                return _Outcome(False, f"no connection within {timeout:g} s", retry=True)
            return _Outcome(False, self._scrub(f"connection failed: {err.reason}"), retry=True)
        except (OSError, http.client.HTTPException) as err:
            text = self._scrub(f"connection failed: {type(err).__name__}: {err}")
            return _Outcome(False, text, retry=True)

    def _finish(self, job: _Job, error: str | None) -> None:
        with self._lock:
            if self._open.pop(job.seq, None) is None:
                return  # close() gave up on it and has reported it already
            if error is None:
                self._delivered += 1
                return
            failure = self._failure(job, error)
            self._failures.append(failure)
        self._report(failure)

    def _failure(self, job: _Job, error: str) -> DeliveryFailure:
        return DeliveryFailure(self._url, job.event.id, job.event.type, job.attempts, error)

    def _scrub(self, text: str) -> str:
        """Error text with the full URL, the secret and header values blanked out."""
        text = " ".join(text.split()).replace(self._webhook.url, self._url)
        for hidden in (self._webhook.secret, *self._webhook.headers.values()):
            if hidden:
                text = text.replace(hidden, "***")
        return text

    def _report(self, failure: DeliveryFailure) -> None:
        try:
            self._on_failure(failure)
        except Exception:  # the reporter is ours or the lead's; it must not break delivery
            _log.exception("reporting a webhook failure failed")
