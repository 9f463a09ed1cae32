"""Bearer tokens checked in constant time against stored hashes, and per-token rate limits."""

from __future__ import annotations

import hmac
import time
from collections.abc import Sequence
from dataclasses import dataclass

from lakestacks.serving.config import TokenConfig, token_digest

__all__ = ["Denied", "RateLimiter", "Tokens"]


class Denied(Exception):
    """The request may not proceed; ``status`` is 401, 403 or 429."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after


class Tokens:
    """The tokens a server accepts, known only by their SHA-256 digests."""

    def __init__(self, tokens: Sequence[TokenConfig]) -> None:
        self._tokens = tuple(tokens)

    @property
    def enabled(self) -> bool:
        """Whether requests need a token at all."""
        return bool(self._tokens)

    def check(self, authorization: str | None, endpoint: str | None) -> TokenConfig | None:
        """The token an ``Authorization: Bearer ...`` header carries, if it may call
        ``endpoint`` (None: any endpoint will do). None when auth is off.

        Every stored digest is compared, with ``hmac.compare_digest``, whichever matches:
        the time taken says nothing about which token, or how much of one, was right.

        Raises:
            Denied: 401 without a valid token, 403 when the token may not call ``endpoint``.
        """
        if not self._tokens:
            return None
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Denied(401, "UNAUTHENTICATED", "send 'Authorization: Bearer <token>'")
        digest = token_digest(presented.strip())
        found = None
        for token in self._tokens:
            if hmac.compare_digest(digest, token.digest):
                found = token
        if found is None:
            raise Denied(401, "UNAUTHENTICATED", "the bearer token is not valid")
        if endpoint is not None and found.endpoints is not None and endpoint not in found.endpoints:
            raise Denied(
                403, "PERMISSION_DENIED", f"token {found.name!r} may not call endpoint {endpoint!r}"
            )
        return found


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """A token bucket per key (a token's name, or the client's address without auth).

    Each key may make ``rate`` requests a second on average, in bursts of up to ``rate``
    (at least one). Used from the event loop only, so it needs no lock.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._buckets: dict[str, _Bucket] = {}

    def check(self, key: str, rate: float | None = None) -> None:
        """Take one request from ``key``'s bucket.

        Raises:
            Denied: 429, with the seconds until the next request is allowed.
        """
        rate = rate or self.rate
        if rate is None:
            return
        now = time.monotonic()
        burst = max(rate, 1.0)
        bucket = self._buckets.setdefault(key, _Bucket(burst, now))
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / rate
            raise Denied(
                429,
                "REQUEST_LIMIT_EXCEEDED",
                f"rate limit of {rate:g} requests/s exceeded; retry in {wait:.2f} s",
                retry_after=wait,
            )
        bucket.tokens -= 1.0
