"""The public Python API: what the CLI and users' scripts call.

Heavy libraries (prefect, mlflow, lightning, great_expectations, torch) are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lakestacks.spec import DEFAULT_ENV, ResolvedStack, Stage, build_plan, json_schema
from lakestacks.spec import load_stack as _load

__all__ = ["json_schema", "load_stack", "plan", "resolved_document"]


def load_stack(path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> ResolvedStack:
    """Load and validate a stack for an environment; raises ``StackError`` with every problem.

    Example:
        >>> from lakestacks import api
        >>> api.load_stack("stacks/quickstart.yaml").stack.name  # doctest: +SKIP
        'churn'
    """
    return _load(path, env)


def plan(path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> list[Stage]:
    """The ordered stages ``stacks run`` would execute, with what each reads and writes.

    Example:
        >>> [s.name for s in api.plan("stacks/quickstart.yaml")][:2]  # doctest: +SKIP
        ['data_prep', 'training']
    """
    return build_plan(_load(path, env))


def resolved_document(resolved: ResolvedStack) -> dict[str, Any]:
    """The stack as the selected environment sees it: overlays applied, paths absolute.

    Example:
        >>> doc = api.resolved_document(api.load_stack("stacks/quickstart.yaml"))  # doctest: +SKIP
        >>> doc["environment"]["name"]  # doctest: +SKIP
        'dev'
    """
    runtime = resolved.runtime
    doc: dict[str, Any] = {
        "environment": {
            "name": runtime.env,
            "lake": runtime.lake,
            "tracking_uri": runtime.tracking_uri,
            "registry_uri": runtime.registry_uri,
            "work_pool": runtime.work_pool,
            "prefect_api_url": runtime.prefect_api_url,
        }
    }
    body = resolved.stack.model_dump(
        mode="json", by_alias=True, exclude={"environments"}, exclude_none=True
    )
    return {**body, **doc}
