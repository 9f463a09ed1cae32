"""What a server serves: endpoints and their arms, tokens, limits and the inference table.

Built from the stack's ``deployment.serving`` section and ``--model`` arguments; everything
the server needs is here, so the server itself never reads the stack file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from lakestacks.catalog import parse_model_ref
from lakestacks.errors import UserError
from lakestacks.registry import CHAMPION
from lakestacks.spec import ResolvedStack
from lakestacks.spec.deployment import ServingLimits, ServingSpec

__all__ = [
    "ArmConfig",
    "EndpointConfig",
    "LogConfig",
    "ServeConfig",
    "TokenConfig",
    "build_config",
    "hash_token",
    "token_digest",
]

TOKENS_ENV = "STACKS_SERVE_TOKENS"


@dataclass(frozen=True)
class ArmConfig:
    """One model version behind an endpoint, pinned (``v3``) or following an alias."""

    name: str  # the alias, or v<N> for a pinned version
    model: str  # full registry name
    version: int | None
    alias: str | None
    percent: float


@dataclass(frozen=True)
class EndpointConfig:
    """A named endpoint (the model's short name) and the arms that share its traffic."""

    name: str
    arms: tuple[ArmConfig, ...]


@dataclass(frozen=True)
class TokenConfig:
    """A bearer token, known only by its SHA-256."""

    name: str
    digest: bytes
    endpoints: frozenset[str] | None  # None: every endpoint
    rate_limit: float | None


@dataclass(frozen=True)
class LogConfig:
    """The inference table and its write batching."""

    path: str
    table: str  # qualified name, for messages
    queue_rows: int
    flush_rows: int
    flush_seconds: float
    queue_bytes: int = 256 * 1024 * 1024
    durability: str = "buffered"  # or "wal"
    wal_dir: str | None = None  # default: beside a local table (see inference_log.wal_root)


@dataclass(frozen=True)
class ServeConfig:
    """Everything a server needs to start."""

    endpoints: tuple[EndpointConfig, ...]
    host: str
    port: int
    tracking_uri: str
    registry_uri: str | None
    tokens: tuple[TokenConfig, ...] = ()
    rate_limit: float | None = None
    max_request_bytes: int = 1_048_576
    poll_seconds: float = 10.0
    log: LogConfig | None = None
    max_batch_rows: int = 4096
    env: str = "dev"
    public_openapi: bool = False  # /openapi.json without a token when auth is on
    limits: ServingLimits = field(default_factory=ServingLimits)
    tls: tuple[str, str] | None = None  # (certificate file, key file): serve HTTPS


def token_digest(token: str) -> bytes:
    """A token's SHA-256: what the server keeps and compares, never the token itself."""
    return hashlib.sha256(token.encode()).digest()


def hash_token(token: str) -> str:
    """A token's SHA-256 in hex, as the stack file's ``sha256`` takes it.

    >>> hash_token("s3cret-token-for-ci")[:12]
    '49fdee0a932e'
    """
    return token_digest(token).hex()


def _tokens(spec: ServingSpec) -> tuple[TokenConfig, ...]:
    tokens = []
    for t in spec.auth.tokens if spec.auth else []:
        digest = bytes.fromhex(t.sha256) if t.sha256 else token_digest(t.token or "")
        scope = frozenset(t.endpoints) if t.endpoints is not None else None
        tokens.append(TokenConfig(t.name, digest, scope, t.rate_limit))
    raw = [p.strip() for p in os.environ.get(TOKENS_ENV, "").split(",") if p.strip()]
    for i, token in enumerate(raw, 1):
        if len(token) < 16:
            raise UserError(f"{TOKENS_ENV}: token {i} is shorter than 16 characters; use longer")
        tokens.append(TokenConfig(f"env-{i}", token_digest(token), None, None))
    return tuple(tokens)


def _arm(resolved: ResolvedStack, text: str) -> tuple[str, ArmConfig]:
    ref_text, _, share = text.partition("=")
    try:
        percent = float(share) if share else -1.0
    except ValueError:
        raise UserError(
            f"--model {text!r}: the share after '=' must be a percent, e.g. =10"
        ) from None
    ref = parse_model_ref(ref_text.strip())
    name = resolved.catalog.model_name(ref.name)
    endpoint = name.rsplit(".", 1)[-1]
    alias = ref.alias if ref.version is None else None
    if ref.version is None and alias is None:
        alias = CHAMPION
    arm = alias if alias is not None else f"v{ref.version}"
    return endpoint, ArmConfig(arm, name, ref.version, alias, percent)


def _endpoints(resolved: ResolvedStack, models: Sequence[str]) -> tuple[EndpointConfig, ...]:
    spec = resolved.stack
    serving = spec.deployment.serving if spec.deployment else None
    if not models:
        if spec.deployment is None:
            raise UserError("this stack has no deployment section; add one or pass --model NAME")
        traffic = serving.traffic if serving else {CHAMPION: 100.0}
        arms = [
            _arm(resolved, f"{spec.deployment.model}@{alias}={pct}")[1]
            for alias, pct in traffic.items()
        ]
        return (EndpointConfig(spec.deployment.model, tuple(arms)),)
    grouped: dict[str, list[ArmConfig]] = {}
    for text in models:
        endpoint, arm = _arm(resolved, text)
        if any(a.name == arm.name for a in grouped.get(endpoint, [])):
            raise UserError(f"--model {text!r}: {endpoint} already has an arm {arm.name}")
        grouped.setdefault(endpoint, []).append(arm)
    out = []
    for endpoint, arms in grouped.items():
        if len(arms) == 1:
            arms = [ArmConfig(arms[0].name, arms[0].model, arms[0].version, arms[0].alias, 100.0)]
        elif any(a.percent < 0 for a in arms) or abs(sum(a.percent for a in arms) - 100) > 1e-6:
            example = " ".join(f"--model {endpoint}@{a.name}=50" for a in arms[:2])
            raise UserError(
                f"--model: the arms of {endpoint} need shares that add up to 100, e.g. {example}"
            )
        out.append(EndpointConfig(endpoint, tuple(arms)))
    return tuple(out)


def build_config(
    resolved: ResolvedStack,
    models: Sequence[str] = (),
    host: str | None = None,
    port: int | None = None,
    poll_seconds: float | None = None,
    graceful_seconds: float | None = None,
) -> ServeConfig:
    """The server's configuration from the stack's ``deployment.serving`` and ``--model`` refs.

    ``models`` are ``NAME``, ``NAME@alias`` or ``NAME/3``, each maybe with ``=PERCENT``; refs
    of one model name become the arms of one endpoint, splitting its traffic.

    Example:
        >>> arms = ["churn_model@champion=90", "churn_model@challenger=10"]
        >>> build_config(resolved, arms).endpoints[0].arms[1].percent  # doctest: +SKIP
        10.0
    """
    spec = resolved.stack
    serving = (spec.deployment.serving if spec.deployment else None) or ServingSpec()
    log = None
    if serving.inference_table:
        cat = resolved.catalog
        log = LogConfig(
            cat.table_path(serving.inference_table),
            cat.qualify(serving.inference_table),
            serving.log.queue_rows,
            serving.log.flush_rows,
            serving.log.flush_seconds,
            serving.log.queue_bytes,
            serving.log.durability,
            serving.log.wal_dir,
        )
    limits = serving.limits
    if graceful_seconds is not None:
        limits = limits.model_copy(update={"graceful_seconds": graceful_seconds})
    return ServeConfig(
        endpoints=_endpoints(resolved, models),
        host=host or serving.host,
        port=serving.port if port is None else port,
        tracking_uri=resolved.runtime.tracking_uri,
        registry_uri=resolved.runtime.registry_uri,
        tokens=_tokens(serving),
        rate_limit=serving.rate_limit,
        max_request_bytes=serving.max_request_bytes,
        poll_seconds=poll_seconds or serving.poll_seconds,
        log=log,
        env=resolved.runtime.env,
        public_openapi=bool(serving.auth and serving.auth.public_openapi),
        limits=limits,
    )
