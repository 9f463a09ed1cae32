"""``stacks models``, ``lineage``, ``approve``, ``reject`` and ``rollback``: the registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from lakestacks.cli._common import EnvOption, JsonOption, StackOption, emit_json, handles_errors

__all__ = ["approve", "lineage", "models", "reject", "rollback"]

ModelArg = Annotated[str, typer.Argument(help="The model: short ('churn_model') or full name.")]
TargetArg = Annotated[
    str,
    typer.Argument(
        help="The model with its version, 'churn_model 3', 'churn_model/3' or "
        "'churn_model@challenger'."
    ),
]
VersionArg = Annotated[
    int | None, typer.Argument(min=1, help="The version number, unless MODEL names it.")
]
ByOption = Annotated[str, typer.Option("--by", help="Who decides (checked against approvers).")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why, for the record.")]


@handles_errors
def models(
    stack: StackOption = Path("stack.yaml"), env: EnvOption = "dev", as_json: JsonOption = False
) -> None:
    """Registered models, their versions, status and aliases."""
    from lakestacks import api

    found = api.models(stack, env=env)
    if as_json:
        emit_json({"models": [dataclasses.asdict(m) for m in found]})
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not found:
        console.print("no registered models yet; `stacks run` trains and registers one")
        return
    for model in found:
        table = Table(title=model.name, title_justify="left")
        for column in ("version", "aliases", "status", "gates", "created", "run"):
            table.add_column(column)
        for v in model.versions:
            table.add_row(
                str(v.version),
                ", ".join(f"@{a}" for a in sorted(v.aliases)),
                v.record.status or "",
                v.record.gates or "",
                v.created.strftime("%Y-%m-%d %H:%M:%S"),
                (v.run_id or "")[:12],
            )
        console.print(table)


@handles_errors
def lineage(
    ref: Annotated[
        str, typer.Argument(help="NAME@alias or NAME/VERSION, e.g. churn_model@champion.")
    ],
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Where a version came from: tables and versions read, run, git sha, stack digest,
    gate decisions, approvals and moves."""
    from lakestacks import api

    found = api.lineage(ref, path=stack, env=env)
    if as_json:
        emit_json(found)
        return
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{found['model']}/{found['version']}[/bold] ({found['ref']})")
    aliases = ", ".join(f"@{a}" for a in found["aliases"]) or "none"
    console.print(f"  status: {found['status']}   aliases: {aliases}   created: {found['created']}")
    if found["status"] == "demoted" and found.get("replaced_by") is not None:
        at = found.get("demoted_at") or ""
        console.print(f"  demoted: {at} (v{found['replaced_by']} replaced it)")
    for table, version in found["inputs"].items():
        console.print(f"  read: {table} v{version}")
    console.print(f"  run: {found['run_id']}   env: {found['env']}")
    console.print(f"  git sha: {found['git_sha'] or '(not in a git repository)'}")
    console.print(f"  stack digest: {found['stack_digest']}")
    if found["metrics"]:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in found["metrics"].items())
        console.print(f"  test metrics: {metrics}")
    for d in found["decisions"]:
        mark = "pass" if d["passed"] else "FAIL"
        console.print(f"  gate {mark}: {d['gate']}: {d['reason']} ({d['mode']})")
    if found["approval"]:
        a = found["approval"]
        by = f" by {a['by']}" if a.get("by") else ""
        console.print(
            f"  approval: {a.get('mode', '')}{by} {a.get('at', '')} {a.get('reason', '')}"
        )
    for e in found["events"]:
        console.print(f"  {_event(e)}")


def _event(e: dict[str, Any]) -> str:
    at = e["at"].strftime("%Y-%m-%d %H:%M:%S") if e.get("at") else ""
    move = ""
    if e.get("champion_after") is not None:
        before = f"v{e['champion_before']}" if e.get("champion_before") else "none"
        move = f" (champion {before} -> v{e['champion_after']})"
    by = f" by {e['by']}" if e.get("by") else ""
    why = f": {e['reason']}" if e.get("reason") else ""
    return f"{at} {e['event']}{by}{move}{why}"


@handles_errors
def approve(
    model: TargetArg,
    by: ByOption,
    version: VersionArg = None,
    reason: ReasonOption = None,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Approve a version awaiting approval: promote it and run the rest of the pipeline."""
    from lakestacks import api

    done = api.approve(model, version=version, by=by, reason=reason, path=stack, env=env)
    if as_json:
        emit_json(dataclasses.asdict(done))
        return
    d = done.decision
    # Completing an approval whose promotion a crash cut short names who approved it.
    typer.echo(f"{d.model}/{d.version} approved by {d.approved_by or by}: {d.message}")
    for line in done.notifications:
        typer.echo(f"notification failed: {line}")
    if done.batch is not None:
        b = done.batch
        typer.echo(f"batch: {b.input} v{b.input_version} -> {b.output} v{b.output_version}")


@handles_errors
def reject(
    model: TargetArg,
    by: ByOption,
    version: VersionArg = None,
    reason: ReasonOption = None,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Reject a version awaiting approval; the champion stays."""
    from lakestacks import api

    done = api.reject(model, version=version, by=by, reason=reason, path=stack, env=env)
    if as_json:
        emit_json(dataclasses.asdict(done))
        return
    typer.echo(done.decision.message)
    for line in done.notifications:
        typer.echo(f"notification failed: {line}")


@handles_errors
def rollback(
    model: ModelArg,
    by: Annotated[str | None, typer.Option("--by", help="Who rolls back.")] = None,
    reason: ReasonOption = None,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """Move the champion back to the previous version."""
    from lakestacks import api

    move = api.rollback(model, by=by, reason=reason, path=stack, env=env)
    if as_json:
        emit_json(dataclasses.asdict(move))
        return
    typer.echo(f"{move.model}: champion v{move.champion_before} -> v{move.champion_after}")
