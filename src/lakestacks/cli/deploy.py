"""``stacks deploy``, ``undeploy``, ``trigger`` and ``server``: the stack's flows on a Prefect
server, on cron schedules."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakestacks.cli._common import (
    EnvOption,
    JsonOption,
    StackOption,
    emit_json,
    fail,
    handles_errors,
)

if TYPE_CHECKING:
    from lakestacks.flows import DeployPlan, ServerState
    from lakestacks.flows.deployments import Action

__all__ = ["deploy", "server_app", "trigger", "undeploy"]

server_app = typer.Typer(
    help="A local Prefect server and worker on loopback, for users who have none.",
    no_args_is_help=True,
)

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the plan against the server; change nothing.")
]
_SIGNS = {"add": "+", "change": "~", "remove": "-", "keep": "="}
# How a plan's counts read before (dry run) and after the change.
_COUNTED: dict[Action, tuple[str, str]] = {
    "add": ("to add", "added"),
    "change": ("to change", "changed"),
    "remove": ("to remove", "removed"),
}


def _plan_json(deploy_plan: DeployPlan, dry_run: bool) -> dict[str, Any]:
    return {
        "stack": deploy_plan.stack,
        "env": deploy_plan.env,
        "api_url": deploy_plan.api_url,
        "work_pool": deploy_plan.work_pool,
        "create_work_pool": deploy_plan.create_pool,
        "dry_run": dry_run,
        "changes": [
            {
                "action": c.action,
                "deployment": c.deployment,
                "schedule": c.schedule,
                "changes": {k: {"from": a, "to": b} for k, (a, b) in c.changes.items()},
            }
            for c in deploy_plan.changes
        ],
    }


def _render_plan(deploy_plan: DeployPlan, dry_run: bool, verb: str) -> None:
    lines = [f"Prefect API {deploy_plan.api_url}, work pool {deploy_plan.work_pool}"]
    if deploy_plan.create_pool:
        lines.append(f"  + work pool {deploy_plan.work_pool} (process)")
    width = max((len(c.deployment) for c in deploy_plan.changes), default=0)
    for c in deploy_plan.changes:
        what = c.deployment.ljust(width)
        if c.action == "change":
            detail = "; ".join(f"{k}: {a} -> {b}" for k, (a, b) in c.changes.items())
        elif c.action == "keep":
            detail = "unchanged"
        else:
            detail = f"schedule {c.schedule}" if c.schedule else "no schedule"
        lines.append(f"  {_SIGNS[c.action]} {what}  {detail}")
    counts = [(deploy_plan.count(a), label) for a, label in _COUNTED.items()]
    if deploy_plan.empty:
        lines.append("no changes: the server matches the stack")
    elif dry_run:
        lines.append("plan: " + ", ".join(f"{n} {todo}" for n, (todo, _) in counts if n))
        lines[-1] += " (dry run: nothing changed)"
    else:
        lines.append(f"{verb}: " + ", ".join(f"{n} {done}" for n, (_, done) in counts if n))
    typer.echo("\n".join(lines))


@handles_errors
def deploy(
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Create or update the Prefect deployments of the stack's flows, with their schedules."""
    from lakestacks import api

    deploy_plan = api.deploy(stack, env=env, dry_run=dry_run)
    if as_json:
        emit_json(_plan_json(deploy_plan, dry_run))
    else:
        _render_plan(deploy_plan, dry_run, "deployed")


@handles_errors
def undeploy(
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    dry_run: DryRunOption = False,
    as_json: JsonOption = False,
) -> None:
    """Remove the stack's deployments in an environment, with their schedules."""
    from lakestacks import api

    deploy_plan = api.undeploy(stack, env=env, dry_run=dry_run)
    if as_json:
        emit_json(_plan_json(deploy_plan, dry_run))
    elif not deploy_plan.changes:
        typer.echo(f"no deployments of {deploy_plan.stack} in env {env} on {deploy_plan.api_url}")
    else:
        _render_plan(deploy_plan, dry_run, "undeployed")


@handles_errors
def trigger(
    flow: Annotated[str, typer.Argument(help="The deployed flow, e.g. pipeline.")] = "pipeline",
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the run to finish.")] = False,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Seconds to wait at most (with --wait).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of a deployed flow; with --wait, exit 1 unless it completes."""
    from lakestacks import api

    run = api.trigger(flow, path=stack, env=env, wait=wait, timeout=timeout)
    if as_json:
        emit_json(dataclasses.asdict(run))
    else:
        typer.echo(
            f"{run.deployment}: flow run {run.flow_run_name} ({run.flow_run_id}) {run.state}"
        )
    if not run.ok:
        raise fail(f"flow run {run.flow_run_name} ended {run.state}: {run.message}", 1)


def _render_server(state: ServerState) -> None:
    server = "external (PREFECT_API_URL)" if state.external else f"pid {state.server_pid}"
    health = "healthy" if state.healthy else "not answering"
    typer.echo(f"Prefect API {state.url} ({health}), server {server}")
    worker = "running" if state.worker_alive else "stopped"
    typer.echo(f"worker pid {state.worker_pid} on pool {state.pool} ({worker})")
    if state.server_log:
        typer.echo(f"logs: {state.server_log}, {state.worker_log}")
    else:
        typer.echo(f"log: {state.worker_log}")


@server_app.command("start")
@handles_errors
def server_start(
    port: Annotated[int, typer.Option("--port", help="Port on 127.0.0.1; 0 picks one.")] = 4200,
    pool: Annotated[str, typer.Option("--pool", help="Work pool the worker polls.")] = "process",
    ui: Annotated[bool, typer.Option("--ui/--no-ui", help="Serve Prefect's web UI.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Start a Prefect server and a process worker in the background (only the worker when
    PREFECT_API_URL is set)."""
    from lakestacks import api

    state = api.server_start(port=port, pool=pool, ui=ui)
    if as_json:
        emit_json({**dataclasses.asdict(state), "external": state.external})
        return
    _render_server(state)
    if not state.external:
        typer.echo(f"deploy to it with `stacks deploy`; UI and API at {state.url[: -len('/api')]}")


@server_app.command("stop")
@handles_errors
def server_stop(as_json: JsonOption = False) -> None:
    """Stop the worker and the server that `stacks server start` started."""
    from lakestacks import api

    state = api.server_stop()
    if as_json:
        emit_json({"server": None if state is None else dataclasses.asdict(state)})
    elif state is None:
        typer.echo("no local server or worker is running")
    else:
        stopped = [f"worker pid {state.worker_pid}"]
        if not state.external:
            stopped.append(f"server pid {state.server_pid}")
        typer.echo(f"stopped {' and '.join(stopped)}")


@server_app.command("status")
@handles_errors
def server_status(as_json: JsonOption = False) -> None:
    """Show the local server and worker; exit 1 when either is down."""
    from lakestacks import api

    state = api.server_status()
    if as_json:
        emit_json(
            {"server": None}
            if state is None
            else {**dataclasses.asdict(state), "external": state.external}
        )
    elif state is None:
        typer.echo("no local server: `stacks server start` starts one")
    else:
        _render_server(state)
    if state is None or not (state.healthy and state.worker_alive):
        raise typer.Exit(1)
