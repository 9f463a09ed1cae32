"""The public Python API: what the CLI and users' scripts call.

Heavy libraries (prefect, mlflow, lightning, great_expectations, torch) are imported inside
the functions that need them, so importing this module stays cheap.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from lakestacks import JSON_SCHEMA
from lakestacks.errors import UserError

# Project scaffolding is light to import (Copier loads inside), so it is re-exported as is:
# `api.init` is `stacks init`, `api.add_ci` is `stacks add ci`, `api.update` is `stacks update`.
from lakestacks.scaffold import add_ci
from lakestacks.scaffold import init_project as init
from lakestacks.scaffold import update_project as update
from lakestacks.spec import DEFAULT_ENV, PlanStep, ResolvedStack, json_schema
from lakestacks.spec import load_stack as _load_stack

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
        RunContext,
        Runner,
        ServerState,
        SummaryTable,
        TrainingResult,
        Triggered,
    )
    from lakestacks.flows.preflight import DeepCheck
    from lakestacks.registry import Move, RegisteredModelInfo
    from lakestacks.serving import ServeSummary

__all__ = [
    "JSON_SCHEMA",
    "RunOutcome",
    "add_ci",
    "approve",
    "deploy",
    "hash_token",
    "init",
    "json_schema",
    "lineage",
    "load_stack",
    "models",
    "plan",
    "recover_inference_log",
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
    "validate_deep",
]

P = ParamSpec("P")
R = TypeVar("R")


def _keyword_only_after_first(*old_order: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Accept, for one release, the positional calls of before (``old_order`` names the
    parameters after the first as they used to stand), with a DeprecationWarning."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> R:
            if len(args) > 1:
                extra = args[1:]
                if len(extra) > len(old_order):
                    raise TypeError(f"{fn.__name__}() takes at most {len(old_order) + 1} arguments")
                names = old_order[: len(extra)]
                warnings.warn(
                    f"api.{fn.__name__}(): pass {', '.join(names)} by keyword "
                    f"(e.g. {names[0]}=...); positional use ends in the next release",
                    DeprecationWarning,
                    stacklevel=2,
                )
                for key, value in zip(names, extra, strict=True):
                    if key in kwargs:
                        raise TypeError(f"{fn.__name__}() got {key!r} twice")
                    kwargs[key] = value
                args = args[:1]
            return fn(*args, **kwargs)

        return call

    return wrap


STACK_FILE = "stack.yaml"


def _find_stack(path: str | Path) -> Path:
    """The stack file: ``path`` itself, or, for the default ``stack.yaml`` when there is
    none in the working folder, the nearest ``stack.yaml`` above it (as git finds its
    repository), stopping at a folder that holds ``.git`` or at the filesystem root."""
    given = Path(path)
    if given != Path(STACK_FILE) or given.is_file():
        return given
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / STACK_FILE
        if candidate.is_file():
            return candidate
        if (folder / ".git").exists():
            where = f"{here} and the folders above it up to the repository root {folder}"
            break
    else:
        where = f"{here} and every folder above it"
    raise UserError(
        f"stack file not found: no {STACK_FILE} in {where}; pass --stack PATH, or run "
        "inside the project"
    )


def _load(path: str | Path, env: str = DEFAULT_ENV) -> ResolvedStack:
    return _load_stack(_find_stack(path), env)


@_keyword_only_after_first("env")
def load_stack(path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV) -> ResolvedStack:
    """Load and validate a stack for an environment; raises ``StackError`` with every problem.

    Example:
        >>> from lakestacks import api
        >>> api.load_stack("stacks/quickstart.yaml").stack.name  # doctest: +SKIP
        'churn'
    """
    return _load(path, env)


def validate_deep(
    path: str | Path | ResolvedStack = "stack.yaml",
    *,
    env: str = DEFAULT_ENV,
    shown: str | Path | None = None,
) -> DeepCheck:
    """Validate a stack, then import its code and check params and columns (``--deep``).

    ``shown`` is the file's name in messages (default: ``path`` as given).

    Raises:
        StackError: every problem, static or deep, each located in the file.

    Example:
        >>> api.validate_deep("stacks/quickstart.yaml").checked[0]  # doctest: +SKIP
        'prep function churn_features:build and its params'
    """
    from lakestacks.errors import StackError
    from lakestacks.flows.preflight import deep_check
    from lakestacks.spec import locate

    resolved = path if isinstance(path, ResolvedStack) else _load(path, env)
    found = deep_check(resolved)
    if found.findings:
        name = shown if shown is not None else path if not isinstance(path, ResolvedStack) else ""
        raise StackError(locate(resolved, found.findings, str(name or resolved.path)))
    return found


@_keyword_only_after_first("env")
def plan(
    path: str | Path | ResolvedStack = "stack.yaml", *, env: str = DEFAULT_ENV
) -> list[PlanStep]:
    """The ordered stages ``stacks run`` would execute, with what each reads and writes.

    Example:
        >>> [s.name for s in api.plan("stacks/quickstart.yaml")][:2]  # doctest: +SKIP
        ['data_prep', 'training']
    """
    from lakestacks.flows import plan as stage_plan

    resolved = path if isinstance(path, ResolvedStack) else _load(path, env)
    return [step for _, step in stage_plan(resolved)]


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
    """What one `stacks run` did: the flow, how it ran, and the pipeline's result.

    ``status`` is ``promoted``, ``kept`` (the champion stays: nothing better), ``unchanged``
    (the champion was trained on the same data, stack and code: nothing retrained),
    ``rejected`` (a gate blocked: exit code 3), ``awaiting_approval`` (exit code 4) or
    ``done``.
    """

    flow: str
    env: str
    runner: str
    seconds: float
    result: PipelineResult
    steps: list[tuple[str, float]] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)  # webhooks and hooks that failed

    @property
    def summaries(self) -> dict[str, list[str | SummaryTable]]:
        """Each stage's result as the stage summarises it (lines and tables)."""
        return self.result.summaries

    @property
    def status(self) -> str:
        """How the run ended."""
        return str(self.result.status)

    @property
    def exit_code(self) -> int:
        """0 done, 3 rejected by a gate, 4 awaiting approval."""
        return self.result.exit_code

    @property
    def message(self) -> str:
        """One line on how the run ended (empty for a plain success)."""
        decision = self.result.decision
        return decision.message if decision else ""

    @property
    def champion(self) -> int | None:
        """The champion version after the run."""
        return self.result.champion

    @property
    def stages(self) -> list[str]:
        """The stages that ran or were reused, in order."""
        return self.result.stages

    @property
    def resumed(self) -> list[str]:
        """The stages reused from an earlier run."""
        return self.result.resumed

    @property
    def not_built(self) -> list[str]:
        """Stages of this stack that land in a later release."""
        return self.result.later

    @property
    def data_prep(self) -> DataPrepResult | None:
        """What data prep wrote."""
        return self.result.data_prep

    @property
    def training(self) -> TrainingResult | None:
        """The version training registered."""
        return self.result.training

    @property
    def evaluation(self) -> EvaluationResult | None:
        """The metrics and gate decisions."""
        return self.result.evaluation

    @property
    def decision(self) -> Decision | None:
        """What happened to the new version."""
        return self.result.decision

    @property
    def batch(self) -> BatchResult | None:
        """The batch scoring."""
        return self.result.batch

    def to_json(self) -> dict[str, Any]:
        """The outcome as ``stacks run --json`` prints it (the README lists the fields)."""
        from lakestacks.flows import to_record

        out = self.result
        return {
            "schema": JSON_SCHEMA,
            "flow": self.flow,
            "env": self.env,
            "runner": self.runner,
            "status": self.status,
            "exit_code": self.exit_code,
            "message": self.message,
            "champion": self.champion,
            "seconds": self.seconds,
            "stages": [
                {"name": name, "seconds": out.seconds.get(name), "resumed": name in out.resumed}
                for name in out.stages
            ],
            "not_built": out.later,
            "notification_failures": self.notifications,
            **{name: to_record(result) for name, result in out.results.items()},
        }


@_keyword_only_after_first("flow", "env", "runner", "progress", "resume")
def run(
    path: str | Path = "stack.yaml",
    *,
    flow: str = "pipeline",
    env: str = DEFAULT_ENV,
    runner: str = "auto",
    progress: bool = False,
    resume: bool = False,
    force: bool = False,
    hooks: Sequence[object] = (),
    since: datetime | None = None,
) -> RunOutcome:
    """Run the pipeline or one flow of a stack.

    Args:
        path: The stack file.
        flow: ``pipeline`` (every stage in order) or one flow, e.g. ``data_prep``.
        env: The environment.
        runner: ``auto`` (Prefect when an API is configured, else direct), ``prefect`` or
            ``direct``.
        progress: Show Lightning's progress bar while training.
        resume: Reuse the stages an earlier run completed with the same stack, code and data
            (the pipeline only).
        force: Retrain even when the champion was trained on the same data, stack and code
            (otherwise such a run says "nothing changed" and keeps the champion).
        hooks: Hook objects for this run only, called after the stack's own ``hooks:``
            (e.g. ``stacks run``'s line per stage).
        since: Monitoring starts its windows here instead of at its watermark.

    Raises:
        DataGateFailed: a data gate in enforce mode failed (exit code 2).

    Example:
        >>> api.run("stacks/quickstart.yaml", runner="direct").status  # doctest: +SKIP
        'promoted'
    """
    resolved = _load(path, env)
    if resume and flow != "pipeline":
        raise UserError(f"--resume applies to the pipeline, not to the {flow} flow alone")
    from lakestacks.flows import choose_runner, pipeline, run_flow, stage
    from lakestacks.flows.stage import check_flow
    from lakestacks.quality import wait_for_data_docs

    kind = choose_runner(runner, resolved.runtime.prefect_api_url)
    check_flow(resolved, flow)  # an unknown flow fails here, before a flow run starts
    start = time.perf_counter()
    name = resolved.stack.name if flow == "pipeline" else f"{resolved.stack.name}-{flow}"
    ctx = _context(resolved, env, progress=progress, resume=resume, force=force, since=since)
    for hook in hooks:
        ctx.dispatcher.add_hook(hook)

    def body(r: Runner) -> PipelineResult:
        steps = replace(ctx, runner=r)
        return pipeline(steps) if flow == "pipeline" else stage(steps, flow)

    try:
        result, used = run_flow(name, body, kind, resolved.runtime.prefect_api_url)
    finally:
        wait_for_data_docs()  # drawn in the background while the run went on
        notes = ctx.close()
    return RunOutcome(
        flow=flow,
        env=env,
        runner=kind,
        seconds=time.perf_counter() - start,
        result=result,
        steps=used.timings,
        notifications=notes,
    )


@_keyword_only_after_first("env")
def monitoring_report(path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV) -> Path:
    """Write the monitoring page from the metric tables; its path (``stacks monitor
    --report``).

    Example:
        >>> api.monitoring_report("stacks/quickstart.yaml")  # doctest: +SKIP
        PosixPath('stacks/.lake/_reports/monitoring-inference_log.html')
    """
    from lakestacks.flows.monitoring_page import write_report

    return write_report(_context(path, env, notify=False))


def _context(
    path: str | Path | ResolvedStack, env: str, *, notify: bool = True, **options: Any
) -> RunContext:
    """The run context of one command: the stack loaded once and, for a command that
    changes something (``notify``), its webhooks and hooks."""
    from lakestacks.events import Dispatcher
    from lakestacks.flows import RunContext

    resolved = path if isinstance(path, ResolvedStack) else _load(path, env)
    events = Dispatcher.from_stack(resolved) if notify else None
    return RunContext(resolved, events=events, **options)


@dataclass
class ApprovalOutcome:
    """What `stacks approve` / `stacks reject` did, and the batch scoring that followed."""

    decision: Decision
    batch: BatchResult | None = None
    seconds: float = 0.0
    notifications: list[str] = field(default_factory=list)  # webhooks and hooks that failed


@_keyword_only_after_first("version", "by", "reason", "path", "env", "runner")
def approve(
    model: str,
    *,
    version: int | None = None,
    by: str,
    reason: str | None = None,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
    runner: str = "auto",
) -> ApprovalOutcome:
    """Approve a version awaiting approval: promote it, then run the rest of the pipeline.

    ``model`` may name the version itself, ``churn_model/3`` or ``churn_model@challenger``;
    otherwise ``version`` says which.

    Refused (``UserError``) when ``by`` is not one of the approvers recorded on the version
    when it was registered (the stack's ``approval.approvers`` for a version registered
    before those were recorded), the version is not awaiting approval, or the champion moved
    since the version was evaluated. A version already approved whose promotion a crash
    interrupted is promoted under that approval (no second approval is recorded).

    Example:
        >>> api.approve("churn_model", 3, by="alice").decision.champion_after  # doctest: +SKIP
        3
    """
    from lakestacks.flows import approve as approve_version
    from lakestacks.flows import batch_inference, choose_runner, run_flow

    start = time.perf_counter()
    ctx = _context(path, env)
    resolved = ctx.resolved
    batch = None
    try:
        decision = approve_version(ctx, model, version, by, reason)
        deployment = resolved.stack.deployment
        if deployment is not None and deployment.batch is not None:
            kind = choose_runner(runner, resolved.runtime.prefect_api_url)
            batch, _ = run_flow(
                f"{resolved.stack.name}-batch_inference",
                lambda r: batch_inference(replace(ctx, runner=r)),
                kind,
                resolved.runtime.prefect_api_url,
            )
    finally:
        notes = ctx.close()
    return ApprovalOutcome(decision, batch, time.perf_counter() - start, notes)


@_keyword_only_after_first("version", "by", "reason", "path", "env")
def reject(
    model: str,
    *,
    version: int | None = None,
    by: str,
    reason: str | None = None,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
) -> ApprovalOutcome:
    """Reject a version awaiting approval; the champion stays (``model`` as for approve).
    Only the version's recorded approvers may reject it, as for approve.

    Example:
        >>> api.reject("churn_model", 3, by="bob").decision.status  # doctest: +SKIP
        'rejected'
    """
    from lakestacks.flows import reject as reject_version

    start = time.perf_counter()
    ctx = _context(path, env)
    try:
        decision = reject_version(ctx, model, version, by, reason)
    finally:
        notes = ctx.close()
    return ApprovalOutcome(decision, None, time.perf_counter() - start, notes)


@_keyword_only_after_first("path", "env", "by", "reason")
def rollback(
    model: str,
    *,
    by: str | None = None,
    reason: str | None = None,
    path: str | Path = "stack.yaml",
    env: str = DEFAULT_ENV,
) -> Move:
    """Move the champion back to the previous one.

    Example:
        >>> api.rollback("churn_model").champion_after  # doctest: +SKIP
        1
    """
    from lakestacks.flows import rollback as rollback_model

    ctx = _context(path, env)
    try:
        return rollback_model(ctx, model, by, reason)
    finally:
        ctx.close()


@_keyword_only_after_first("env")
def models(path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV) -> list[RegisteredModelInfo]:
    """The registered models of the stack's catalog, with versions and aliases.

    Example:
        >>> [m.name for m in api.models("stacks/quickstart.yaml")]  # doctest: +SKIP
        ['main.churn.churn_model']
    """
    ctx = _context(path, env, notify=False)
    return ctx.registry.list_models(f"{ctx.resolved.stack.catalog}.")


@_keyword_only_after_first("path", "env")
def lineage(ref: str, *, path: str | Path = "stack.yaml", env: str = DEFAULT_ENV) -> dict[str, Any]:
    """Where a model version came from: tables and versions read, run, git sha, stack digest,
    gate decisions, approvals and moves.

    Example:
        >>> api.lineage("churn_model@champion")["inputs"]  # doctest: +SKIP
        {'main.churn.features': 1}
    """
    from lakestacks.flows import lineage as version_lineage

    return version_lineage(_context(path, env, notify=False), ref)


@_keyword_only_after_first("env")
def tables(
    path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV
) -> list[tuple[str, TableInfo]]:
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


@_keyword_only_after_first("path", "env", "version", "limit")
def table_show(
    name: str,
    *,
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


@_keyword_only_after_first("path", "env")
def table_history(
    name: str, *, path: str | Path = "stack.yaml", env: str = DEFAULT_ENV
) -> list[dict[str, Any]]:
    """A table's commits, newest first.

    Example:
        >>> api.table_history("features", "stacks/quickstart.yaml")[0]["version"]  # doctest: +SKIP
        1
    """
    from lakestacks.data.tables import history

    return history(_table_path(_load(path, env), name))


@_keyword_only_after_first("env", "dry_run")
def deploy(
    path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV, dry_run: bool = False
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


@_keyword_only_after_first("env", "dry_run")
def undeploy(
    path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV, dry_run: bool = False
) -> DeployPlan:
    """Remove the stack's deployments (and their schedules) in an environment.

    Example:
        >>> api.undeploy(env="prod").count("remove")  # doctest: +SKIP
        2
    """
    from lakestacks.flows import deployments

    return deployments.undeploy(_load(path, env), dry_run=dry_run)


@_keyword_only_after_first("path", "env", "wait", "timeout")
def trigger(
    flow: str = "pipeline",
    *,
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


@_keyword_only_after_first("pool", "ui")
def server_start(port: int = 4200, *, pool: str = "process", ui: bool = True) -> ServerState:
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


@_keyword_only_after_first("env", "models", "host", "port", "poll_seconds", "on_ready", "on_event")
def serve(
    path: str | Path = "stack.yaml",
    *,
    env: str = DEFAULT_ENV,
    models: Sequence[str] = (),
    host: str | None = None,
    port: int | None = None,
    poll_seconds: float | None = None,
    on_ready: Callable[[str, dict[str, Any]], None] | None = None,
    on_event: Callable[[str], None] | None = None,
    graceful_seconds: float | None = None,
    tls: tuple[str, str] | None = None,
) -> ServeSummary:
    """Serve the stack's model (or ``models``) over REST until SIGINT or SIGTERM.

    Args:
        models: ``NAME``, ``NAME@alias`` or ``NAME/3``, each maybe ``=PERCENT``; refs of one
            name become the arms of one endpoint, e.g. ``churn_model@challenger=10``.
        host, port, poll_seconds: Override ``deployment.serving``'s; port 0 picks a free one.
        on_ready: Called with the URL and what is served once the server answers.
        on_event: Called with a line for each hot swap.
        graceful_seconds: Override ``serving.limits.graceful_seconds``.
        tls: A PEM certificate file and its key file: serve HTTPS.

    Example:
        >>> api.serve("stacks/quickstart.yaml", port=8080)  # doctest: +SKIP
    """
    from lakestacks.serving import build_config
    from lakestacks.serving import serve as run_server

    config = build_config(_load(path, env), models, host, port, poll_seconds, graceful_seconds)
    if tls is not None:
        config = replace(config, tls=tls)
    return run_server(config, on_ready, on_event)


def recover_inference_log(
    path: str | Path = "stack.yaml", *, env: str = DEFAULT_ENV
) -> tuple[str, int]:
    """Write what crashed servers left in the inference table's write-ahead log; returns the
    table's name and the rows written (``stacks serve --recover``).

    Example:
        >>> api.recover_inference_log("stacks/quickstart.yaml")  # doctest: +SKIP
        ('main.churn.inference_log', 0)
    """
    from lakestacks.serving import build_config
    from lakestacks.serving.inference_log import recover

    config = build_config(_load(path, env))
    if config.log is None:
        raise UserError("the stack serves without an inference table: nothing to recover")
    return config.log.table, recover(config.log)


def hash_token(token: str) -> str:
    """The SHA-256 of a bearer token, for ``deployment.serving.auth.tokens[].sha256``."""
    from lakestacks.serving import hash_token as sha256

    return sha256(token)
