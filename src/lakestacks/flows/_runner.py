"""How a flow's steps run: as Prefect tasks of one flow run, or directly in-process.

Measured on 2 cores (bench/RESULTS.md): Prefect without a server starts a temporary one
(~10 s a process); against a long-lived server a flow costs ~1-2 s, most of it the flow-run
heartbeat, which is turned off here. So ``auto`` runs through Prefect when an API is
configured (``PREFECT_API_URL`` or the environment's ``prefect_api_url``) and directly
otherwise; ``--runner prefect`` forces a Prefect run (with a temporary server if need be).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, ParamSpec, Protocol, TypeVar

__all__ = [
    "RUNNERS",
    "TELEMETRY_OFF",
    "DirectRunner",
    "PrefectRunner",
    "Runner",
    "choose_runner",
    "quiet_prefect",
    "run_flow",
]

P = ParamSpec("P")
R = TypeVar("R")
RUNNERS: tuple[str, ...] = ("auto", "prefect", "direct")
# Prefect's telemetry switches, for this process and every Prefect process we start.
TELEMETRY_OFF = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


class Runner(Protocol):
    """Runs one named step of a flow."""

    timings: list[tuple[str, float]]

    def step(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``fn(*args, **kwargs)`` as the step ``name`` and return its result."""
        ...

    def report(self, key: str, markdown: str) -> None:
        """Attach the run's summary to the flow run (a no-op without one)."""
        ...


@dataclass
class DirectRunner:
    """Calls each step in-process and times it."""

    timings: list[tuple[str, float]] = field(default_factory=list)

    def step(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        start = time.perf_counter()
        try:
            return self._call(name, fn, *args, **kwargs)
        finally:
            self.timings.append((name, time.perf_counter() - start))

    def _call(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return fn(*args, **kwargs)

    def report(self, key: str, markdown: str) -> None:
        """No flow run to attach it to."""


@dataclass
class PrefectRunner(DirectRunner):
    """Runs each step as a Prefect task of the current flow run."""

    def _call(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        from prefect import task
        from prefect.cache_policies import NO_CACHE
        from prefect.utilities.annotations import quote

        # Steps pass Arrow tables in memory: no caching, no result persistence.
        make_task: Any = task  # Prefect's overloads do not cover a ParamSpec'd callable
        wrapped = make_task(fn, name=name, cache_policy=NO_CACHE, persist_result=False)
        # quote(): Prefect would otherwise walk every argument looking for futures,
        # which is slow on Arrow tables and breaks on models with a `keys` field.
        result: R = wrapped(*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})
        return result

    def report(self, key: str, markdown: str) -> None:
        """A markdown artifact on the flow run: the summary, beside it in Prefect's UI."""
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(markdown, key=key, description="lakestacks run summary")


def choose_runner(requested: str, api_url: str | None) -> Literal["prefect", "direct"]:
    """Resolve ``auto``: Prefect when an API is configured or a flow run is under way, else
    direct."""
    if requested not in RUNNERS:
        from lakestacks.errors import UserError

        raise UserError(f"unknown runner {requested!r}; use one of: {', '.join(RUNNERS)}")
    if requested == "auto":
        configured = api_url or os.environ.get("PREFECT_API_URL")
        return "prefect" if configured or _in_flow_run() else "direct"
    return "prefect" if requested == "prefect" else "direct"


def _in_flow_run() -> bool:
    """True inside a Prefect flow run; cheap when Prefect was never imported."""
    if "prefect.context" not in sys.modules:
        return False
    from prefect.context import FlowRunContext

    return FlowRunContext.get() is not None


def quiet_prefect() -> None:
    """Keep Prefect quiet: no telemetry, and off the console (our CLI prints one summary).

    Run states and logs still go to the Prefect API; only the console handlers are raised
    (Prefect reads PREFECT_LOGGING_[PATH]_[KEY] overrides when it sets up logging).
    """
    for key, value in TELEMETRY_OFF.items():
        os.environ.setdefault(key, value)
    for handler in ("CONSOLE", "CONSOLE_FLOW_RUNS", "CONSOLE_TASK_RUNS"):
        os.environ.setdefault(f"PREFECT_LOGGING_HANDLERS_{handler}_LEVEL", "CRITICAL")
    logging.getLogger("EventsWorker").setLevel(logging.ERROR)


def run_flow(
    flow_name: str,
    body: Callable[[Runner], R],
    runner: Literal["prefect", "direct"],
    api_url: str | None = None,
) -> tuple[R, Runner]:
    """Run ``body`` as one flow: its steps as Prefect tasks, or directly.

    Example:
        >>> result, used = run_flow("demo", lambda r: r.step("one", len, "abc"), "direct")
        >>> result, used.timings[0][0]
        (3, 'one')
    """
    if runner == "direct":
        direct = DirectRunner()
        return body(direct), direct
    quiet_prefect()
    from prefect import flow
    from prefect.context import FlowRunContext

    prefect_runner = PrefectRunner()
    if FlowRunContext.get() is not None:
        # Called from a flow run (a deployed `flows/*.py` entrypoint on a worker): the steps
        # become tasks of that run instead of a nested flow run of their own.
        return body(prefect_runner), prefect_runner
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )

    def _body() -> Any:
        return body(prefect_runner)

    make_flow: Any = flow
    wrapped = make_flow(_body, name=flow_name, persist_result=False, validate_parameters=False)
    updates: dict[Any, Any] = {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    if api_url:
        updates[PREFECT_API_URL] = api_url
    with temporary_settings(updates=updates):
        result: R = wrapped()
    return result, prefect_runner
