"""The public Python API: what the CLI and users' scripts call.

Heavy libraries (prefect, mlflow, lightning, great_expectations, torch) are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakestacks.errors import UserError
from lakestacks.spec import DEFAULT_ENV, ResolvedStack, Stage, build_plan, json_schema
from lakestacks.spec import load_stack as _load

if TYPE_CHECKING:
    import pyarrow as pa

    from lakestacks.data.tables import TableInfo
    from lakestacks.flows import DataPrepResult

__all__ = [
    "FLOWS_BUILT",
    "RunOutcome",
    "build_plan",
    "json_schema",
    "load_stack",
    "plan",
    "resolved_document",
    "run",
    "table_history",
    "table_show",
    "tables",
]

# Flows `stacks run` can execute today; the plan lists the others as later releases.
FLOWS_BUILT = ("pipeline", "data_prep")


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


@dataclass
class RunOutcome:
    """What one `stacks run` did: the flow, how it ran, and each stage's result."""

    flow: str
    env: str
    runner: str
    seconds: float
    data_prep: DataPrepResult | None = None
    steps: list[tuple[str, float]] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)


def run(
    path: str | Path = "stack.yaml",
    flow: str = "pipeline",
    env: str = DEFAULT_ENV,
    runner: str = "auto",
) -> RunOutcome:
    """Run the pipeline or one flow of a stack.

    Args:
        path: The stack file.
        flow: ``pipeline`` (every built stage in order) or one flow, e.g. ``data_prep``.
        env: The environment.
        runner: ``auto`` (Prefect when an API is configured, else direct), ``prefect`` or
            ``direct``.

    Raises:
        DataGateFailed: a data gate in enforce mode failed (exit code 2).

    Example:
        >>> api.run("stacks/quickstart.yaml", "data_prep").data_prep.wrote  # doctest: +SKIP
        {'main.churn.customers': 0, 'main.churn.features': 0}
    """
    resolved = _load(path, env)
    stages = [s.name for s in build_plan(resolved)]
    if flow not in FLOWS_BUILT:
        known = ", ".join(["pipeline", *stages])
        if flow in stages:
            raise UserError(f"flow {flow!r} is not built yet; runnable now: data_prep, pipeline")
        raise UserError(f"unknown flow {flow!r}; flows of this stack: {known}")
    from lakestacks.flows import choose_runner, data_prep, run_flow

    kind = choose_runner(runner, resolved.runtime.prefect_api_url)
    start = time.perf_counter()
    result, used = run_flow(
        f"{resolved.stack.name}-data_prep",
        lambda r: data_prep(resolved, r),
        kind,
        resolved.runtime.prefect_api_url,
    )
    return RunOutcome(
        flow=flow,
        env=env,
        runner=kind,
        seconds=time.perf_counter() - start,
        data_prep=result,
        steps=used.timings,
        not_built=[s for s in stages if s not in FLOWS_BUILT] if flow == "pipeline" else [],
    )


def tables(path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> list[tuple[str, TableInfo]]:
    """Every Delta table of the stack's catalog schema in this environment's lake.

    Example:
        >>> [name for name, _ in api.tables("stacks/quickstart.yaml")]  # doctest: +SKIP
        ['main.churn._validations', 'main.churn.customers', 'main.churn.features']
    """
    from lakestacks.data.tables import table_exists, table_info

    resolved = _load(path, env)
    cat = resolved.catalog
    names = set(_declared_tables(resolved))
    root = Path(cat.schema_path)
    if "://" not in resolved.runtime.lake and root.is_dir():
        names |= {p.name for p in root.iterdir() if p.is_dir()}
    out = []
    for name in sorted(names):
        path = cat.table_path(name)
        if table_exists(path):
            out.append((cat.qualify(name), table_info(path)))
    return out


def _declared_tables(resolved: ResolvedStack) -> list[str]:
    from lakestacks.spec.checks import stack_tables

    spec = resolved.stack
    quarantines = [f"{t}__quarantine" for t in spec.data.expectations]
    return [*stack_tables(spec.data, spec.deployment), *quarantines, "_validations"]


def _table_path(resolved: ResolvedStack, name: str) -> str:
    from lakestacks.data.tables import TableNotFound, table_exists

    path = resolved.catalog.table_path(name)
    if not table_exists(path):
        known = ", ".join(_declared_tables(resolved))
        raise TableNotFound(
            f"no table {resolved.catalog.qualify(name)} in lake {resolved.runtime.lake}; "
            f"tables of this stack: {known} (run `stacks run data_prep` to create them)"
        )
    return path


def table_show(
    name: str,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    version: int | None = None,
    limit: int = 20,
) -> pa.Table:
    """The first ``limit`` rows of a table, optionally as of a version.

    Example:
        >>> api.table_show("features", "stacks/quickstart.yaml", limit=5).num_rows  # doctest: +SKIP
        5
    """
    from lakestacks.data.tables import read_table

    table_path = _table_path(_load(path, env), name)
    return read_table(table_path, version=version).slice(0, limit)


def table_history(
    name: str, path: str | Path = "stack.yaml", env: str = DEFAULT_ENV
) -> list[dict[str, Any]]:
    """A table's commits, newest first.

    Example:
        >>> api.table_history("features", "stacks/quickstart.yaml")[0]["version"]  # doctest: +SKIP
        1
    """
    from lakestacks.data.tables import history

    return history(_table_path(_load(path, env), name))
