"""The published OpenAPI spec, with each endpoint's request schema from its model signature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from lakestacks.serving.endpoints import Endpoint

__all__ = ["openapi"]


def _json_type(t: pa.DataType) -> dict[str, Any]:
    if pa.types.is_integer(t):
        kind: dict[str, Any] = {"type": "integer"}
    elif pa.types.is_floating(t):
        kind = {"type": "number"}
    elif pa.types.is_boolean(t):
        kind = {"type": "boolean"}
    elif pa.types.is_timestamp(t):
        kind = {"type": "string", "format": "date-time"}
    else:
        kind = {"type": "string"}
    return {"anyOf": [kind, {"type": "null"}]}


def _request(endpoint: Endpoint) -> dict[str, Any]:
    schema = endpoint.schema
    record: dict[str, Any] = {"type": "object"}
    if schema is not None:
        record["properties"] = {f.name: _json_type(f.type) for f in schema}
        record["required"] = [f.name for f in schema if not f.nullable]
    rows = {"type": "array", "items": record, "minItems": 1}
    return {
        "type": "object",
        "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs.",
        "properties": {
            "dataframe_split": {
                "type": "object",
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array"}},
                    "index": {"type": "array"},
                },
                "required": ["data"],
            },
            "dataframe_records": rows,
            "instances": rows,
            "inputs": {"anyOf": [rows, {"type": "object"}]},
            "params": {"type": "object"},
        },
        "minProperties": 1,
    }


_ERROR = {
    "description": "An error, as MLflow's scoring server reports one.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "error_code": {"type": "string"},
                    "message": {"type": "string"},
                    "request_id": {"type": "string"},
                },
            }
        }
    },
}


def _invocation(endpoint: Endpoint, summary: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {
            "description": "One prediction per input row.",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"predictions": {"type": "array"}},
                    }
                }
            },
        }
    }
    for code, why in {
        "400": "bad input (the message names the field)",
        "401": "no valid bearer token",
        "403": "the token may not call this endpoint",
        "413": "the body is too large",
        "415": "neither JSON nor CSV",
        "429": "rate limit exceeded (see Retry-After)",
        "503": "the inference log is full (see Retry-After)",
    }.items():
        responses[code] = {**_ERROR, "description": why}
    return {
        "post": {
            "summary": summary,
            "operationId": f"invoke_{endpoint.name}",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": _request(endpoint)},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "responses": responses,
        }
    }


def openapi(endpoints: list[Endpoint]) -> dict[str, Any]:
    """An OpenAPI 3.1 document of the scoring routes the server serves."""
    import importlib.metadata

    plain = {"200": {"description": "OK"}}
    paths: dict[str, Any] = {
        "/invocations": _invocation(endpoints[0], f"Score rows with {endpoints[0].name}"),
        "/ping": {"get": {"summary": "Health check", "operationId": "ping", "responses": plain}},
        "/health": {
            "get": {"summary": "Health check", "operationId": "health", "responses": plain}
        },
        "/version": {
            "get": {"summary": "What is served", "operationId": "version", "responses": plain}
        },
        "/metrics": {
            "get": {"summary": "Prometheus metrics", "operationId": "metrics", "responses": plain}
        },
    }
    for e in endpoints:
        paths[f"/serving-endpoints/{e.name}/invocations"] = _invocation(e, f"Score with {e.name}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "lakestacks serving",
            "version": importlib.metadata.version("lakestacks"),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
