"""The public Python API: what the CLI and users' scripts call.

Heavy libraries (prefect, mlflow, lightning, great_expectations, torch) are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakestacks.errors import UserError

# Project scaffolding is light to import (Copier loads inside), so it is re-exported as is:
# `api.init` is `stacks init`, `api.add_ci` is `stacks add ci`, `api.update` is `stacks update`.
from lakestacks.scaffold import add_ci
from lakestacks.scaffold import init_project as init
from lakestacks.scaffold import update_project as update
from lakestacks.spec import DEFAULT_ENV, ResolvedStack, Stage, build_plan, json_schema
from lakestacks.spec import load_stack as _load

if TYPE_CHECKING:
    import pyarrow as pa

    from lakestacks.data.tables import TableInfo
    from lakestacks.flows import (
        BatchResult,
        DataPrepResult,
        Decision,
        DeployPlan,
        EvaluationResult,
        PipelineResult,
        Runner,
        ServerState,
        TrainingResult,
        Triggered,
    )
    from lakestacks.registry import Move, RegisteredModelInfo
    from lakestacks.serving import ServeSummary

__all__ = [
    "FLOWS_BUILT",
    "RunOutcome",
    "add_ci",
    "approve",
    "build_plan",
    "deploy",
    "hash_token",
    "init",
    "json_schema",
    "lineage",
    "load_stack",
    "models",
    "plan",
    "reject",
    "resolved_document",
    "rollback",
    "run",
    "serve",
    "server_start",
    "server_status",
    "server_stop",
    "table_history",
    "table_show",
    "tables",
    "trigger",
    "undeploy",
    "update",
]

# Flows `stacks run` can execute today; the plan lists the others as later releases.
FLOWS_BUILT = (
    "pipeline", "data_prep", "training", "evaluation", "approval", "deployment",
    "batch_inference",
)  # fmt: skip


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
            "working_dir": runtime.working_dir,
            "job_variables": runtime.job_variables,
        }
    }
    body = resolved.stack.model_dump(
        mode="json", by_alias=True, exclude={"environments"}, exclude_none=True
    )
    return {**body, **doc}


@dataclass
class RunOutcome:
    """What one `stacks run` did: the flow, how it ran, each stage's result, how it ended.

    ``status`` is ``promoted``, ``kept`` (the champion stays: nothing better), ``rejected``
    (a gate blocked: exit code 3), ``awaiting_approval`` (exit code 4) or ``done``.
    """

    flow: str
    env: str
    runner: str
    seconds: float
    data_prep: DataPrepResult | None = None
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    decision: Decision | None = None
    batch: BatchResult | None = None
    champion: int | None = None
    status: str = "done"
    exit_code: int = 0
    steps: list[tuple[str, float]] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    not_built: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        """One line on how the run ended (empty for a plain success)."""
        return self.decision.message if self.decision else ""


def run(
    path: str | Path = "stack.yaml",
    flow: str = "pipeline",
    env: str = DEFAULT_ENV,
    runner: str = "auto",
    progress: bool = False,
    resume: bool = False,
) -> RunOutcome:
    """Run the pipeline or one flow of a stack.

    Args:
        path: The stack file.
        flow: ``pipeline`` (every stage in order) or one flow, e.g. ``data_prep``.
        env: The environment.
        runner: ``auto`` (Prefect when an API is configured, else direct), ``prefect`` or
            ``direct``.
        progress: Show Lightning's progress bar while training.
        resume: Reuse the data prep and training an earlier run completed with the same
            stack, code and data (the pipeline only).

    Raises:
        DataGateFailed: a data gate in enforce mode failed (exit code 2).

    Example:
        >>> api.run("stacks/quickstart.yaml").status  # doctest: +SKIP
        'promoted'
    """
    resolved = _load(path, env)
    stages = [s.name for s in build_plan(resolved)]
    if flow != "pipeline" and flow not in stages:
        raise UserError(
            f"unknown flow {flow!r}; flows of this stack: pipeline, {', '.join(stages)}"
        )
    if resume and flow != "pipeline":
        raise UserError(f"--resume applies to the pipeline, not to the {flow} flow alone")
    from lakestacks.flows import choose_runner, pipeline, run_flow, stage
    from lakestacks.quality import wait_for_data_docs

    kind = choose_runner(runner, resolved.runtime.prefect_api_url)
    start = time.perf_counter()
    name = resolved.stack.name if flow == "pipeline" else f"{resolved.stack.name}-{flow}"

    def body(r: Runner) -> PipelineResult:
        if flow == "pipeline":
            return pipeline(resolved, r, progress, resume=resume)
        return stage(resolved, r, flow, progress)

    try:
        result, used = run_flow(name, body, kind, resolved.runtime.prefect_api_url)
    finally:
        wait_for_data_docs()  # drawn in the background while the run went on
    return RunOutcome(
        flow=flow,
        env=env,
        runner=kind,
        seconds=time.perf_counter() - start,
        data_prep=result.data_prep,
        training=result.training,
        evaluation=result.evaluation,
        decision=result.decision,
        batch=result.batch,
        champion=result.champion,
        status=result.status,
        exit_code=result.exit_code,
        steps=used.timings,
        stages=result.stages,
        resumed=result.resumed,
        not_built=[s for s in stages if s not in FLOWS_BUILT] if flow == "pipeline" else [],
    )


@dataclass
class ApprovalOutcome:
    """What `stacks approve` / `stacks reject` did, and the batch scoring that followed."""

    decision: Decision
    batch: BatchResult | None = None
    seconds: float = 0.0


def approve(
    model: str,
    version: int,
    by: str,
    reason: str | None = None,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    runner: str = "auto",
) -> ApprovalOutcome:
    """Approve a version awaiting approval: promote it, then run the rest of the pipeline.

    Refused (``UserError``) when ``by`` is not in ``approval.approvers``, the version is not
    awaiting approval, or the champion moved since the version was evaluated.

    Example:
        >>> api.approve("churn_model", 3, by="alice").decision.champion_after  # doctest: +SKIP
        3
    """
    resolved = _load(path, env)
    from lakestacks.flows import approve as approve_version
    from lakestacks.flows import batch_inference, choose_runner, run_flow

    start = time.perf_counter()
    decision = approve_version(resolved, model, version, by, reason)
    batch = None
    deployment = resolved.stack.deployment
    if deployment is not None and deployment.batch is not None:
        kind = choose_runner(runner, resolved.runtime.prefect_api_url)
        batch, _ = run_flow(
            f"{resolved.stack.name}-batch_inference",
            lambda r: batch_inference(resolved, r),
            kind,
            resolved.runtime.prefect_api_url,
        )
    return ApprovalOutcome(decision, batch, time.perf_counter() - start)


def reject(
    model: str,
    version: int,
    by: str,
    reason: str | None = None,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
) -> ApprovalOutcome:
    """Reject a version awaiting approval; the champion stays.

    Example:
        >>> api.reject("churn_model", 3, by="bob").decision.status  # doctest: +SKIP
        'rejected'
    """
    from lakestacks.flows import reject as reject_version

    start = time.perf_counter()
    decision = reject_version(_load(path, env), model, version, by, reason)
    return ApprovalOutcome(decision, None, time.perf_counter() - start)


def rollback(
    model: str,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    by: str | None = None,
    reason: str | None = None,
) -> Move:
    """Move the champion back to the previous one.

    Example:
        >>> api.rollback("churn_model").champion_after  # doctest: +SKIP
        1
    """
    from lakestacks.flows import rollback as rollback_model

    return rollback_model(_load(path, env), model, by, reason)


def models(path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> list[RegisteredModelInfo]:
    """The registered models of the stack's catalog, with versions and aliases.

    Example:
        >>> [m.name for m in api.models("stacks/quickstart.yaml")]  # doctest: +SKIP
        ['main.churn.churn_model']
    """
    from lakestacks import registry

    resolved = _load(path, env)
    registry.configure(resolved.runtime.tracking_uri, resolved.runtime.registry_uri)
    return registry.list_models(f"{resolved.stack.catalog}.")


def lineage(ref: str, path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> dict[str, Any]:
    """Where a model version came from: tables and versions read, run, git sha, stack digest,
    gate decisions, approvals and moves.

    Example:
        >>> api.lineage("churn_model@champion")["inputs"]  # doctest: +SKIP
        {'main.churn.features': 1}
    """
    from lakestacks.flows import lineage as version_lineage

    return version_lineage(_load(path, env), ref)


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


def deploy(
    path: str | Path = "stack.yaml", env: str = DEFAULT_ENV, dry_run: bool = False
) -> DeployPlan:
    """Create or update the Prefect deployments of the stack's flows in an environment.

    The plan compares what the stack wants (flows, cron schedules, work pool, parameters,
    version from git) with what the server holds; ``dry_run`` only returns it. Deploying
    twice with nothing changed writes nothing.

    Example:
        >>> [(c.action, c.deployment) for c in api.deploy(env="prod").changes]  # doctest: +SKIP
        [('add', 'pipeline/churn-prod'), ('add', 'batch_inference/churn-prod')]
    """
    from lakestacks.flows import deployments

    deploy_plan = deployments.plan(_load(path, env))
    return deploy_plan if dry_run else deployments.apply(deploy_plan)


def undeploy(
    path: str | Path = "stack.yaml", env: str = DEFAULT_ENV, dry_run: bool = False
) -> DeployPlan:
    """Remove the stack's deployments (and their schedules) in an environment.

    Example:
        >>> api.undeploy(env="prod").count("remove")  # doctest: +SKIP
        2
    """
    from lakestacks.flows import deployments

    return deployments.undeploy(_load(path, env), dry_run=dry_run)


def trigger(
    flow: str = "pipeline",
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    wait: bool = False,
    timeout: float | None = None,
) -> Triggered:
    """Start a run of one of the stack's deployments; from a flow, it is linked as a subflow.

    Example:
        >>> api.trigger("pipeline", env="prod", wait=True).state  # doctest: +SKIP
        'COMPLETED'
    """
    from lakestacks.flows import deployments

    return deployments.trigger(_load(path, env), flow, wait=wait, timeout=timeout)


def server_start(port: int = 4200, pool: str = "process", ui: bool = True) -> ServerState:
    """Start a local Prefect server and process worker on loopback (only the worker when
    ``PREFECT_API_URL`` is set).

    Example:
        >>> api.server_start(port=0).url  # doctest: +SKIP
        'http://127.0.0.1:40123/api'
    """
    from lakestacks.flows import server

    return server.start(port=port, pool=pool, ui=ui)


def server_stop() -> ServerState | None:
    """Stop the local worker and server by PID; None when none was started.

    Example:
        >>> api.server_stop()  # doctest: +SKIP
    """
    from lakestacks.flows import server

    return server.stop()


def server_status() -> ServerState | None:
    """The local server and worker, or None when `stacks server start` was not run.

    Example:
        >>> api.server_status().healthy  # doctest: +SKIP
        True
    """
    from lakestacks.flows import server

    return server.status()


def serve(
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    models: Sequence[str] = (),
    host: str | None = None,
    port: int | None = None,
    poll_seconds: float | None = None,
    on_ready: Callable[[str, dict[str, Any]], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> ServeSummary:
    """Serve the stack's model (or ``models``) over REST until SIGINT or SIGTERM.

    Args:
        models: ``NAME``, ``NAME@alias`` or ``NAME/3``, each maybe ``=PERCENT``; refs of one
            name become the arms of one endpoint, e.g. ``churn_model@challenger=10``.
        host, port, poll_seconds: Override ``deployment.serving``'s; port 0 picks a free one.
        on_ready: Called with the URL and what is served once the server answers.
        on_event: Called with a line for each hot swap.

    Example:
        >>> api.serve("stacks/quickstart.yaml", port=8080)  # doctest: +SKIP
    """
    from lakestacks.serving import build_config
    from lakestacks.serving import serve as run_server

    config = build_config(_load(path, env), models, host, port, poll_seconds)
    return run_server(config, on_ready, on_event)


def hash_token(token: str) -> str:
    """The SHA-256 of a bearer token, for ``deployment.serving.auth.tokens[].sha256``."""
    from lakestacks.serving import hash_token as sha256

    return sha256(token)
