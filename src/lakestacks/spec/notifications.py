"""The ``notifications`` section: webhooks that receive the stack's lifecycle events.

The event names live here, not in :mod:`lakestacks.events`, because validation must know
them and ``spec`` sits below ``events`` in the layers; ``events`` re-exports them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_serializer, field_validator, model_validator

from lakestacks.spec._base import SpecModel

__all__ = ["EventType", "NotificationsSection", "Webhook", "redact_url"]


class EventType(StrEnum):
    """What happened: a stage's progress, or a step of a model version through the registry.

    Example:
        >>> EventType("promoted") is EventType.PROMOTED
        True
    """

    STAGE_STARTED = "stage_started"
    STAGE_FINISHED = "stage_finished"
    STAGE_FAILED = "stage_failed"
    VERSION_REGISTERED = "version_registered"
    GATES_DECIDED = "gates_decided"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    PROMOTION_REFUSED = "promotion_refused"
    DRIFT_BREACH = "drift_breach"


# Headers that carry the delivery's own meaning; a stack overriding them would break
# signature checks or de-duplication at the receiver.
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "user-agent", "x-event-id", "x-stacks-event",
     "x-stacks-signature"}
)  # fmt: skip
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 field-name


def redact_url(url: str) -> str:
    """A URL safe to print: no user or password, no query, no fragment (they may hold tokens).

    Example:
        >>> redact_url("https://bot:pw@hooks.example.com/x?token=s3cret")
        'https://hooks.example.com/x'
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else "<not a URL>"


def _event_name(value: Any) -> Any:
    """An unknown event name fails with the valid names and the closest one, not an enum dump."""
    names = [e.value for e in EventType]
    if isinstance(value, str) and value not in names:
        close = difflib.get_close_matches(value, names, n=1)
        maybe = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"unknown event {value!r}; {maybe}events are: {', '.join(names)}")
    return value


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, dict):
        return "mapping"
    return "list" if isinstance(value, list) else type(value).__name__


def _text(value: Any) -> Any:
    """Secret-bearing text: a wrong type is named without echoing the value into the error."""
    if value is None or isinstance(value, str):
        return value
    raise ValueError(
        f"must be text, got a {_kind(value)} (its value is not shown); quote it, "
        "or use '${ENV_VAR}'"
    )


def _as_written(url: str) -> str:
    """A bad URL as the user wrote it, less what may be a token: user info, query, fragment."""
    head = re.split(r"[?#]", url, maxsplit=1)[0]
    scheme, sep, rest = head.rpartition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    cut = "?***" if len(head) < len(url) else ""
    return f"{scheme}{sep}{rest}{cut}"


def _mapping_only(value: Any, model: type[SpecModel], what: str) -> Any:
    # The loader prints a failing input; for these sections the input may hold a secret.
    if not isinstance(value, dict | model):
        raise ValueError(f"{what} must be a mapping, got a {_kind(value)}")
    return value


EventName = Annotated[
    EventType,
    BeforeValidator(_event_name),
    Field(description="An event name, e.g. 'promoted'."),
]
HeaderValue = Annotated[str, BeforeValidator(_text)]


class Webhook(SpecModel):
    """An HTTP endpoint that receives each selected event as a JSON POST, in the background.

    A receiver that is down, slow or failing never changes a run's result; failed deliveries
    are recorded. Each request carries ``X-Event-Id`` (the same on every retry, for
    de-duplication), ``X-Stacks-Event`` and, with a secret, ``X-Stacks-Signature:
    sha256=<hex HMAC-SHA256 of the body>``.
    """

    url: str = Field(
        min_length=1,
        description="Where to POST: an http:// or https:// URL with a host, e.g. "
        "'https://hooks.example.com/lakestacks'; put tokens in '${ENV_VAR}'.",
    )
    events: list[EventName] = Field(
        default_factory=lambda: list(EventType),
        min_length=1,
        description="The events to send; default: all. One of: "
        + ", ".join(e.value for e in EventType)
        + ".",
    )
    secret: Annotated[str | None, BeforeValidator(_text)] = Field(
        None,
        repr=False,
        json_schema_extra={"writeOnly": True},
        description="Key of the HMAC-SHA256 signature header; write '${ENV_VAR}', never the "
        "secret itself. Empty or unset sends unsigned requests.",
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="How long one attempt may take before it counts as failed."
    )
    retries: int = Field(
        3,
        ge=0,
        le=10,
        description="Retries after a connection error, a timeout, HTTP 429 or 5xx; "
        "other 4xx answers are not retried.",
    )
    backoff_seconds: float = Field(
        0.5, ge=0, le=60, description="Wait before the first retry; it doubles for each next."
    )
    headers: dict[str, HeaderValue] = Field(
        default_factory=dict,
        repr=False,
        description="Extra request headers, e.g. {Authorization: 'Bearer ${HOOK_TOKEN}'}; "
        "their values are shown as '***'.",
    )

    @model_validator(mode="before")
    @classmethod
    def _is_mapping(cls, value: Any) -> Any:
        return _mapping_only(value, cls, "a webhook")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        shown = _as_written(value)
        try:
            parts = urlsplit(value)
            _ = parts.port  # parsing the port is what raises on a bad one
        except ValueError as err:
            raise ValueError(
                f"{str(err).lower()}; use http:// or https:// with a host (got {shown!r})"
            ) from None
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            what = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
            if parts.scheme.lower() in ("http", "https"):
                what = "no host"
            raise ValueError(
                f"a webhook URL must be http:// or https:// with a host, e.g. "
                f"'https://hooks.example.com/lakestacks'; this has {what} (got {shown!r})"
            )
        if any(c.isspace() for c in value):
            raise ValueError(f"a webhook URL has no spaces; encode them as %20 (got {shown!r})")
        return value

    @field_validator("secret")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        # `${HOOK_SECRET:-}` leaves a webhook unsigned where the variable is not set.
        return value or None

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(
                    f"header {name!r} is set by lakestacks itself; remove it from 'headers'"
                )
            if "\r" in text or "\n" in text:
                raise ValueError(f"the value of header {name!r} spans lines; keep it on one")
        return value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A repr lands in logs and tracebacks; show the URL as `stacks validate --show` does.
        for name, value in super().__repr_args__():
            yield name, (self._shown_url(value) if name == "url" else value)

    @field_serializer("url", when_used="json")
    def _shown_url(self, value: str) -> str:
        # `stacks validate --show` and --json print this; a query may hold a token.
        query = "?***" if urlsplit(value).query else ""
        return redact_url(value) + query

    @field_serializer("secret", when_used="json")
    def _shown_secret(self, value: str | None) -> str | None:
        return None if value is None else "***"

    @field_serializer("headers", when_used="json")
    def _shown_headers(self, value: dict[str, str]) -> dict[str, str]:
        return dict.fromkeys(value, "***")


class NotificationsSection(SpecModel):
    """Where the stack's lifecycle events go besides the run's own records."""

    webhooks: list[Webhook] = Field(
        default_factory=list,
        description="HTTP endpoints that receive events as JSON; a failing one never fails "
        "a run or a promotion.",
    )

    @model_validator(mode="before")
    @classmethod
    def _is_mapping(cls, value: Any) -> Any:
        return _mapping_only(value, cls, "'notifications'")
