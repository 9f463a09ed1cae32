"""Built-in Prefect entrypoints for the flows a project has no ``flows/<name>.py`` file for.

`stacks deploy` points a deployment at the project's own file when there is one (users
extend those), and at one of these otherwise: ``lakestacks.entrypoints.pipeline``, or
``lakestacks.entrypoints.<stage>`` for any registered stage (plug-ins' too), made on first
use. A deployment runs with the project folder as its working directory, so ``stack`` is
relative to it.

Like the project files, these sit above ``api`` (beside ``cli``: both are front ends over
it), and importing this module imports Prefect: only workers do.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from prefect import Flow, flow

from lakestacks import api
from lakestacks.spec import DEFAULT_ENV
from lakestacks.spec.plugins import stage_names

__all__ = ["pipeline"]


def _run(stack: str, flow_name: str, env: str, force: bool = False) -> str:
    outcome = api.run(Path(stack), flow=flow_name, env=env, force=force)
    if outcome.status == "rejected":
        raise RuntimeError(outcome.message)  # the run fails; the champion is unchanged
    return outcome.status


@flow(name="pipeline")
def pipeline(stack: str = "stack.yaml", env: str = DEFAULT_ENV, force: bool = False) -> str:
    """The whole pipeline; fails when a gate rejects the new version. ``force`` retrains
    on unchanged inputs (a drift breach's retrain)."""
    return _run(stack, "pipeline", env, force)


@functools.cache
def _stage_flow(name: str) -> Flow[Any, str]:
    """A flow that runs the registered stage ``name`` on its own."""

    def body(stack: str = "stack.yaml", env: str = DEFAULT_ENV) -> str:
        return _run(stack, name, env)

    body.__name__ = name
    body.__doc__ = f"Run the {name} stage of the stack as its own flow."
    made: Flow[Any, str] = flow(name=name)(body)
    return made


def __getattr__(name: str) -> Any:
    # PEP 562: Prefect imports `lakestacks.entrypoints.<stage>` by attribute.
    if name in stage_names():
        return _stage_flow(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *stage_names()})
