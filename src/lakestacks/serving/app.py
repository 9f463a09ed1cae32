"""The ASGI app: MLflow's scoring routes, endpoint routes, health, version, metrics, OpenAPI.

Starlette, not FastAPI: the routes parse bodies themselves (``protocol``) against the
model's signature, which is only known at start, so FastAPI's per-request validation
would be cost without use. The OpenAPI spec is built from the signatures instead.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import re
import time
import uuid
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from lakestacks.errors import UserError
from lakestacks.serving.config import ServeConfig
from lakestacks.serving.endpoints import Arm, Endpoint, watch
from lakestacks.serving.inference_log import META_COLUMNS, InferenceLog, LogStats, log_entry
from lakestacks.serving.metrics import Metrics
from lakestacks.serving.openapi import openapi
from lakestacks.serving.protocol import (
    BadRequest,
    UnsupportedMediaType,
    parse_body,
    predictions_json,
)
from lakestacks.serving.security import Denied, RateLimiter, Tokens

__all__ = ["ServingApp"]

log = logging.getLogger("lakestacks.serving")
JSON = "application/json"
# A client's x-request-id is copied into every logged row of its request and echoed back, so
# only a short id of plain characters is kept; any other is replaced by a fresh one.
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


# What a logged request holds beyond its body: the metadata columns, the id at most 128.
_ROW_META = 512


def _request_id(given: str | None) -> str:
    return given if given is not None and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


class _ClientGone(Exception):
    """The client closed the connection before its body arrived: nobody to answer."""


@dataclass
class _Totals:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)


class ServingApp:
    """The server's state and its ASGI app (``.asgi``)."""

    def __init__(
        self,
        config: ServeConfig,
        endpoints: list[Endpoint],
        inference_log: InferenceLog | None = None,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.endpoints = {e.name: e for e in endpoints}
        self.default = endpoints[0]
        self.log = inference_log
        self.tokens = Tokens(config.tokens)
        self.limiter = RateLimiter(config.rate_limit)
        self.metrics = Metrics()
        self.totals = _Totals()
        self.log_stats: LogStats | None = None
        self._on_event = on_event or (lambda message: None)
        for endpoint in endpoints:
            _check_columns(endpoint)
            for arm in endpoint.arms:
                arm.on_batch = self.metrics.batch_rows.observe
                self._show_version(endpoint, arm)
        self.asgi = Starlette(
            routes=[
                Route("/invocations", self.invocations, methods=["POST"]),
                Route("/serving-endpoints/{name}/invocations", self.invocations, methods=["POST"]),
                Route("/ping", self.ping, methods=["GET"]),
                Route("/health", self.ping, methods=["GET"]),
                Route("/version", self.version, methods=["GET"]),
                Route("/metrics", self.render_metrics, methods=["GET"]),
                Route("/openapi.json", self.openapi, methods=["GET"]),
            ],
            exception_handlers={HTTPException: self._http_error, Exception: self._internal},
            lifespan=self._lifespan,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(1, thread_name_prefix="stacks-model")
        arms = [arm for e in self.endpoints.values() for arm in e.arms]
        tasks = [arm.start(executor) for arm in arms]
        watcher = asyncio.create_task(
            watch(list(self.endpoints.values()), self.config.poll_seconds, self._swapped)
        )
        if self.log is not None:
            self.log.start()
        try:
            yield
        finally:
            # uvicorn has stopped taking requests and finished those in flight.
            watcher.cancel()
            for arm in arms:
                await arm.drain()
            for task in tasks:
                task.cancel()
            executor.shutdown(wait=True)
            if self.log is not None:
                self.log_stats = await asyncio.to_thread(self.log.close)

    def _swapped(self, endpoint: Endpoint, arm: Arm, before: int | None, after: int | None) -> None:
        self.metrics.swaps.labels(endpoint.name, arm.name).inc()
        self._show_version(endpoint, arm)
        old = f"v{before}" if before is not None else "nothing"
        new = f"v{after}" if after is not None else "nothing (alias removed)"
        self._on_event(f"{endpoint.name}@{arm.name}: {old} -> {new}")

    def _show_version(self, endpoint: Endpoint, arm: Arm) -> None:
        self.metrics.model_version.labels(endpoint.name, arm.name, arm.config.model).set(
            arm.version or 0
        )

    # -- scoring -----------------------------------------------------------------------------

    async def invocations(self, request: Request) -> Response:
        """Score a request with one arm of the endpoint; log its rows; answer predictions."""
        start = time.perf_counter()
        request_id = _request_id(request.headers.get("x-request-id"))
        name = request.path_params.get("name")
        endpoint = self.endpoints.get(name) if name else self.default
        if endpoint is None:
            if (refused := self._guard(request)) is not None:
                return refused  # endpoint names only for those with a token
            known = ", ".join(self.endpoints)
            return _error(
                404, "ENDPOINT_NOT_FOUND", f"no endpoint {name!r}; serving: {known}", request_id
            )
        try:
            token = self.tokens.check(request.headers.get("authorization"), endpoint.name)
            client = request.client.host if request.client else "?"
            self.limiter.check(token.name if token else client, token.rate_limit if token else None)
            body = await self._body(request)
            parsed = parse_body(
                body, request.headers.get("content-type", JSON), endpoint.schema, endpoint.formats
            )
            if parsed.table.num_rows == 0:
                raise BadRequest("the request has no rows to score")
        except Denied as denied:
            return self._refused(
                endpoint, denied.status, denied.code, str(denied), request_id, denied.retry_after
            )
        except BadRequest as bad:
            return await self._failed(
                endpoint, None, bad.status, bad.code, str(bad), request_id, start
            )
        except _ClientGone:
            # nginx's 499: counted, not logged as an error, and the answer goes nowhere.
            return self._refused(endpoint, 499, "CLIENT_CLOSED_REQUEST", "", request_id)
        rows = parsed.table.num_rows
        arm = endpoint.pick()
        if self.log is not None and not self.log.reserve(rows):
            return self._log_full(endpoint, request_id)
        try:
            scored = await arm.score(parsed.table)
        except Exception:
            if self.log is not None:
                self.log.release(rows)
            return await self._failed(
                endpoint,
                arm,
                500,
                "INTERNAL_ERROR",
                f"the model failed to score the request (request id {request_id})",
                request_id,
                start,
            )
        latency = time.perf_counter() - start
        if self.log is not None:
            meta = self._meta(request_id, endpoint, arm, scored.version, 200, None, latency)
            durable = self.log.put(
                log_entry(parsed.table, scored.outputs.columns, meta, rows, len(body) + _ROW_META)
            )
            if durable is not None:
                await durable  # on disk before the answer leaves (durability: wal)
        self.metrics.requests.labels(endpoint.name, arm.name, "200").inc()
        self.metrics.latency.labels(endpoint.name).observe(latency)
        self.metrics.rows.labels(endpoint.name).inc(rows)
        self.totals.requests[(endpoint.name, arm.name)] += 1
        return Response(
            predictions_json(scored.outputs),
            media_type=JSON,
            headers={
                "x-request-id": request_id,
                "x-stacks-arm": arm.name,
                "x-stacks-model-version": str(scored.version),
            },
        )

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_request_bytes
        length = request.headers.get("content-length", "")
        too_large = Denied(413, "REQUEST_TOO_LARGE", f"the body is over the limit of {limit} bytes")
        if length.isdigit() and int(length) > limit:
            raise too_large
        chunks, size = [], 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
        except ClientDisconnect:
            raise _ClientGone from None
        body = b"".join(chunks)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "x-gzip"):
            raise UnsupportedMediaType(
                f"content encoding {encoding!r} is not supported; send gzip or no encoding"
            )
        return _gunzip(body, limit, too_large)

    def _meta(
        self, request_id: str, endpoint: Endpoint, arm: Arm | None, version: int | None,
        status: int, error: str | None, latency: float,
    ) -> dict[str, object]:  # fmt: skip
        return {
            "request_id": request_id,
            "endpoint": endpoint.name,
            "model_name": arm.config.model if arm else endpoint.arms[0].config.model,
            "model_version": version,
            "arm": arm.name if arm else None,
            "status": status,
            "error": error,
            "latency_ms": latency * 1000.0,
            "timestamp": datetime.now(UTC),
        }

    async def _failed(
        self, endpoint: Endpoint, arm: Arm | None, status: int, code: str, message: str,
        request_id: str, start: float,
    ) -> Response:  # fmt: skip
        """A request that reached the model path and failed: logged as one row, then answered."""
        if self.log is not None:
            if not self.log.reserve(1):
                return self._log_full(endpoint, request_id)
            version = arm.version if arm else None
            meta = self._meta(
                request_id, endpoint, arm, version, status, message, time.perf_counter() - start
            )
            durable = self.log.put(log_entry(None, None, meta, 1, len(message) + _ROW_META))
            if durable is not None:
                await durable
        self.metrics.requests.labels(endpoint.name, arm.name if arm else "", str(status)).inc()
        return self._refused(endpoint, status, code, message, request_id)

    def _log_full(self, endpoint: Endpoint, request_id: str) -> Response:
        message = "the inference log is full; retry shortly"
        return self._refused(endpoint, 503, "TEMPORARILY_UNAVAILABLE", message, request_id, 1.0)

    def _refused(
        self, endpoint: Endpoint, status: int, code: str, message: str, request_id: str,
        retry_after: float | None = None,
    ) -> Response:  # fmt: skip
        self.metrics.errors.labels(endpoint.name, code).inc()
        self.totals.errors[status] += 1
        return _error(status, code, message, request_id, retry_after)

    # -- the other routes ----------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        """200 while the server runs (MLflow's health check)."""
        return Response("\n", media_type=JSON)

    async def version(self, request: Request) -> Response:
        """What is served: each endpoint's arms, versions and traffic shares."""
        if (refused := self._guard(request)) is not None:
            return refused
        return Response(orjson.dumps(self.describe()), media_type=JSON)

    def describe(self) -> dict[str, Any]:
        """The endpoints, their arms and versions, and the package versions."""
        return {
            "lakestacks": importlib.metadata.version("lakestacks"),
            "mlflow": importlib.metadata.version("mlflow"),
            "default_endpoint": self.default.name,
            "endpoints": {
                e.name: {
                    a.name: {
                        "model": a.config.model,
                        "version": a.version,
                        "runtime": a.runtime,
                        "alias": a.config.alias,
                        "traffic_percent": a.config.percent,
                        "requests": self.totals.requests[(e.name, a.name)],
                    }
                    for a in e.arms
                }
                for e in self.endpoints.values()
            },
            "inference_table": self.config.log.table if self.config.log else None,
            "recovered_rows": self.log.recovered if self.log is not None else 0,
        }

    async def render_metrics(self, request: Request) -> Response:
        """Prometheus text exposition."""
        if (refused := self._guard(request)) is not None:
            return refused
        if self.log is not None:
            self.metrics.log_waiting.set(self.log.waiting)
            self.metrics.log_written.set(self.log.rows_written)
        body, content_type = self.metrics.render()
        return Response(body, headers={"content-type": content_type})

    async def openapi(self, request: Request) -> Response:
        """The OpenAPI 3.1 spec, with each endpoint's input columns from its signature."""
        if not self.config.public_openapi and (refused := self._guard(request)) is not None:
            return refused
        return Response(orjson.dumps(openapi(list(self.endpoints.values()))), media_type=JSON)

    def _guard(self, request: Request) -> Response | None:
        try:
            self.tokens.check(request.headers.get("authorization"), None)
        except Denied as denied:
            return _error(denied.status, denied.code, str(denied), uuid.uuid4().hex)
        return None

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "BAD_REQUEST")
        return _error(
            status,
            code,
            f"{request.method} {request.url.path}: {code.lower().replace('_', ' ')}",
            uuid.uuid4().hex,
        )

    async def _internal(self, request: Request, exc: Exception) -> Response:
        request_id = uuid.uuid4().hex
        log.error("internal error (request id %s)", request_id, exc_info=exc)
        return _error(
            500, "INTERNAL_ERROR", f"internal error (request id {request_id})", request_id
        )


def _error(
    status: int, code: str, message: str, request_id: str, retry_after: float | None = None
) -> Response:
    headers = {"x-request-id": request_id}
    if retry_after is not None:
        headers["retry-after"] = str(max(1, round(retry_after)))
    body = orjson.dumps({"error_code": code, "message": message, "request_id": request_id})
    return Response(body, status_code=status, media_type=JSON, headers=headers)


def _gunzip(body: bytes, limit: int, too_large: Denied) -> bytes:
    """A gzip body, inflated to at most ``limit`` bytes (a small body can inflate 1000-fold)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, limit + 1)
    except zlib.error as err:
        raise BadRequest(f"the body is not valid gzip: {err}") from None
    if len(out) > limit:
        raise too_large
    if not inflate.eof:
        raise BadRequest("the gzip body is cut short")
    return out


def _check_columns(endpoint: Endpoint) -> None:
    schema = endpoint.schema
    clash = sorted(set(schema.names if schema is not None else ()) & set(META_COLUMNS))
    if clash:
        raise UserError(
            f"endpoint {endpoint.name}: input column(s) {', '.join(clash)} clash with the "
            f"inference table's own columns ({', '.join(META_COLUMNS)}); rename them in prep"
        )
