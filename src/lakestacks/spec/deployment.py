"""The ``deployment`` section: the registered model, batch scoring and real-time serving."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_serializer, model_validator

from lakestacks.spec._base import LocalPath, Name, SpecModel

__all__ = [
    "BatchSpec",
    "DeploymentSection",
    "InferenceLogSpec",
    "ServingAuth",
    "ServingLimits",
    "ServingSpec",
    "ServingToken",
]


class BatchSpec(SpecModel):
    """Score a table with the champion and write the predictions to another."""

    input: Name = Field(description="The table to score.")
    output: Name = Field(description="The table predictions are written to.")
    mode: Literal["overwrite", "append"] = Field("overwrite", description="How output is written.")


class ServingToken(SpecModel):
    """A bearer token: give the token itself (usually ``${ENV_VAR}``) or its SHA-256."""

    name: str = Field(min_length=1, max_length=64, description="Who holds it, e.g. 'ci'.")
    token: str | None = Field(
        None,
        min_length=16,
        repr=False,
        json_schema_extra={"writeOnly": True},  # a secret: never printed (see the loader)
        description="The token, e.g. '${CHURN_TOKEN}'; hashed at start.",
    )
    sha256: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{64}$",
        description="The token's SHA-256 in hex (`stacks serve --hash-token` prints it).",
    )
    endpoints: list[Name] | None = Field(
        None, description="Endpoints it may call (model short names); omit for all."
    )
    rate_limit: float | None = Field(
        None, gt=0, description="Requests per second for this token; overrides serving's."
    )

    @field_serializer("token", when_used="json")
    def _shown_token(self, value: str | None) -> str | None:
        # `stacks validate --show` and --json print the resolved stack.
        return None if value is None else "***"

    @model_validator(mode="after")
    def _one_secret(self) -> ServingToken:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"token {self.name!r}: give exactly one of 'token' and 'sha256'")
        return self


class ServingAuth(SpecModel):
    """Bearer-token auth for the scoring routes, /version, /metrics and /openapi.json."""

    tokens: list[ServingToken] = Field(
        min_length=1, description="The tokens; STACKS_SERVE_TOKENS adds more (comma-separated)."
    )
    public_openapi: bool = Field(
        False,
        description="Serve /openapi.json without a token; it names the endpoints and their "
        "input columns, which 404s hide from callers without one.",
    )


class InferenceLogSpec(SpecModel):
    """How scored rows reach the inference table: a bounded queue, written in batches."""

    queue_rows: int = Field(
        100_000, ge=1, description="Rows held before requests get 503 (nothing is dropped)."
    )
    queue_bytes: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Bytes held before requests get 503: wide rows fill memory before "
        "queue_rows does.",
    )
    flush_rows: int = Field(5_000, ge=1, description="Write when this many rows wait.")
    flush_seconds: float = Field(2.0, gt=0, description="Write at least this often.")
    durability: Literal["wal", "buffered"] = Field(
        "buffered",
        description="'wal': a request's rows are fsync'd to a local write-ahead file before "
        "it is answered, and what a crash leaves is written at the next start; 'buffered': "
        "rows wait in memory, and a crash loses up to flush_seconds of them.",
    )
    wal_dir: LocalPath | None = Field(
        None,
        description="Where the write-ahead files go; default: beside a local table, else "
        "~/.local/state/lakestacks/wal.",
    )


class ServingLimits(SpecModel):
    """Timeouts and caps, so that slow or hostile clients cannot starve the others."""

    idle_seconds: float = Field(
        5.0, gt=0, le=3600, description="Close a keep-alive connection idle this long."
    )
    header_seconds: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A request's line and headers must arrive within this (408 otherwise); "
        "also how long a new connection may stay silent.",
    )
    body_seconds: float = Field(
        30.0, gt=0, le=3600, description="A request's body must arrive within this (408)."
    )
    max_header_bytes: int = Field(
        16_384, ge=1024, le=1_048_576, description="Larger request lines and headers get 431."
    )
    max_connections: int = Field(
        1000,
        ge=1,
        description="Open connections (and requests in flight) before new requests get 503; "
        "lowered to fit the process's open-file limit.",
    )
    graceful_seconds: float = Field(
        20.0,
        gt=0,
        le=3600,
        description="On SIGTERM, how long requests in flight may take to finish; below an "
        "orchestrator's usual 30 s grace period, so the log is written before a SIGKILL.",
    )


class ServingSpec(SpecModel):
    """A REST endpoint for the champion."""

    inference_table: Name | None = Field(
        None, description="Log each scored row to this table; omit to log nothing."
    )
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on (0: any free port).")
    traffic: dict[Name, float] = Field(
        default_factory=lambda: {"champion": 100.0},
        description="Percent of requests per alias, e.g. {champion: 90, challenger: 10}; "
        "an alias that is not set gives its share to the others.",
    )
    auth: ServingAuth | None = Field(None, description="Bearer-token auth; omit for none.")
    rate_limit: float | None = Field(
        None, gt=0, description="Requests per second per token (per client without auth)."
    )
    max_request_bytes: int = Field(1_048_576, ge=1, description="Larger request bodies get 413.")
    poll_seconds: float = Field(
        10.0, gt=0, description="How often aliases are checked for a hot swap."
    )
    log: InferenceLogSpec = Field(
        default_factory=InferenceLogSpec, description="Inference-table batching."
    )
    limits: ServingLimits = Field(
        default_factory=ServingLimits, description="Connection timeouts and caps."
    )

    @model_validator(mode="after")
    def _traffic_sums(self) -> ServingSpec:
        total = sum(self.traffic.values())
        if not self.traffic or any(v < 0 for v in self.traffic.values()) or abs(total - 100) > 1e-6:
            raise ValueError(
                f"traffic percentages must be >= 0 and add up to 100 (they add up to {total:g}); "
                "e.g. {champion: 90, challenger: 10}"
            )
        return self


class DeploymentSection(SpecModel):
    """Where the model is registered and how it is served."""

    model: Name = Field(description="The registered model's short name, e.g. 'churn_model'.")
    batch: BatchSpec | None = Field(None, description="Batch scoring after promotion.")
    serving: ServingSpec | None = Field(None, description="Real-time serving settings.")
