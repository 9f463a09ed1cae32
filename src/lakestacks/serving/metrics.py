"""Prometheus metrics of one server: requests, latency, errors, batches, models, the log."""

from __future__ import annotations

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The server's metrics in a registry of its own (several servers may share a process)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )

        disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created: noise

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "stacks_requests", "Scoring requests answered.", ["endpoint", "arm", "status"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "stacks_request_latency_seconds", "Scoring latency in the server.", ["endpoint"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "stacks_request_errors", "Requests refused or failed, by reason.", ["endpoint", "code"],
            registry=r,
        )  # fmt: skip
        self.rows = Counter("stacks_scored_rows", "Input rows scored.", ["endpoint"], registry=r)
        self.batch_rows = Histogram(
            "stacks_batch_rows", "Rows per model call.",
            buckets=(1, 2, 4, 8, 16, 32, 64, 256, 1024), registry=r,
        )  # fmt: skip
        self.model_version = Gauge(
            "stacks_model_version", "The version each arm serves (0: none).",
            ["endpoint", "arm", "model"], registry=r,
        )  # fmt: skip
        self.log_waiting = Gauge(
            "stacks_inference_log_waiting_rows", "Rows queued for the inference table.", registry=r
        )
        self.log_written = Gauge(
            "stacks_inference_log_written_rows", "Rows written to the inference table.", registry=r
        )
        self.swaps = Counter("stacks_model_swaps", "Hot swaps.", ["endpoint", "arm"], registry=r)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
