"""Built-in Prefect entrypoints for the flows a project has no ``flows/<name>.py`` file for.

`stacks deploy` points a deployment at the project's own file when there is one (users
extend those), and at one of these otherwise. A deployment runs with the project folder as
its working directory, so ``stack`` is relative to it.

Like the project files, these sit above ``api`` (beside ``cli``: both are front ends over
it), and importing this module imports Prefect: only workers do.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow

from lakestacks import api
from lakestacks.spec import DEFAULT_ENV

__all__ = ["batch_inference", "data_prep", "evaluation", "pipeline", "training"]


def _run(stack: str, flow_name: str, env: str) -> str:
    outcome = api.run(Path(stack), flow_name, env)
    if outcome.status == "rejected":
        raise RuntimeError(outcome.message)  # the run fails; the champion is unchanged
    return outcome.status


@flow(name="pipeline")
def pipeline(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
    """The whole pipeline; fails when a gate rejects the new version."""
    return _run(stack, "pipeline", env)


@flow(name="data_prep")
def data_prep(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
    """Ingest, transform, validate, split and commit the stack's tables."""
    return _run(stack, "data_prep", env)


@flow(name="training")
def training(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
    """Train and register a new version."""
    return _run(stack, "training", env)


@flow(name="evaluation")
def evaluation(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
    """Score the newest trained version and apply the gates."""
    return _run(stack, "evaluation", env)


@flow(name="batch_inference")
def batch_inference(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
    """Score the batch input with the champion."""
    return _run(stack, "batch_inference", env)
