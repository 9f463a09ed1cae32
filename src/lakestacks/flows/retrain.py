"""Retrain after a drift breach: through the pipeline deployment, or here, never twice."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext

__all__ = ["Retrain", "retrain"]


@dataclass(frozen=True)
class Retrain:
    """What a breach's ``retrain`` did: ``started`` (a deployment run), ``ran`` (here, with
    its status and version), or ``skipped``, and why."""

    what: str
    detail: str
    status: str | None = None
    version: int | None = None


def retrain(ctx: RunContext, trained_now: int | None) -> Retrain:
    """Retrain after a breach, forced (unchanged inputs do not short-circuit it): through the
    environment's ``pipeline`` deployment when one exists, else here, in this process. A
    retrain already running (a lock beside the lake, or an active run of the deployment)
    means no second one; a pipeline that trained in this very run needs none."""
    if trained_now is not None:
        return Retrain("skipped", f"this run trained v{trained_now} already")
    deployed = _trigger_deployment(ctx)
    if deployed is not None:
        return deployed
    with _retrain_lock(ctx.catalog.lake) as held:
        if not held:
            return Retrain("skipped", "a retrain started by an earlier breach is still running")
        from lakestacks.flows.pipeline import pipeline

        result = pipeline(replace(ctx, force=True))
    version = getattr(result.results.get("training"), "version", None)
    return Retrain(
        "ran", f"the pipeline ran here: {result.status.value}", result.status.value, version
    )


def _trigger_deployment(ctx: RunContext) -> Retrain | None:
    """Start the ``pipeline`` deployment, forced, when the environment has a Prefect API and
    the deployment exists there; None otherwise (retrain here)."""
    if not ctx.resolved.runtime.prefect_api_url:
        return None
    from lakestacks.flows import deployments

    try:
        active = deployments.active_runs(ctx.resolved, "pipeline")
    except UserError:
        return None  # not deployed for this environment
    if active:
        return Retrain("skipped", f"the pipeline deployment is already running ({active[0]})")
    started = deployments.trigger(ctx.resolved, "pipeline", parameters={"force": True})
    return Retrain("started", f"started {started.deployment} (flow run {started.flow_run_name})")


@contextlib.contextmanager
def _retrain_lock(lake: str) -> Iterator[bool]:
    """Whether this process holds the lake's retrain lock (a local lake; elsewhere, True)."""
    if "://" in lake or os.name != "posix":
        yield True
        return
    import fcntl

    folder = Path(lake) / "_monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".retrain.lock", "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
