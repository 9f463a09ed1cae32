"""``stacks validate``, ``plan`` and ``schema``: the stack file, checked before anything runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from lakestacks.cli._common import (
    EnvOption,
    JsonOption,
    StackOption,
    emit_json,
    handles_errors,
)

__all__ = ["plan", "schema", "validate"]


@handles_errors
def validate(
    path: Annotated[
        Path | None, typer.Argument(help="The stack file (same as --stack).", show_default=False)
    ] = None,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    show: Annotated[bool, typer.Option("--show", help="Print the resolved stack as YAML.")] = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep",
            help="Also import the project's code: check params against the model's and "
            "functions' signatures, and columns against the tables that exist.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check a stack file: fields, references, cron strings, environment variables."""
    from lakestacks import api
    from lakestacks.errors import StackError

    target = path or stack
    try:
        resolved = api.load_stack(target, env=env)
        found = api.validate_deep(resolved, env=env, shown=target) if deep else None
    except StackError as err:
        if as_json:
            emit_json(
                {
                    "ok": False,
                    "stack": str(target),
                    "env": env,
                    "problems": [dataclasses.asdict(p) for p in err.problems],
                }
            )
            raise typer.Exit(err.exit_code) from None
        raise
    if show:
        import yaml

        typer.echo(yaml.safe_dump(api.resolved_document(resolved), sort_keys=False), nl=False)
        return
    if as_json:
        emit_json(
            {
                "ok": True,
                "stack": str(target),
                "env": env,
                "problems": [],
                "resolved": api.resolved_document(resolved),
                **(
                    {"deep": {"checked": found.checked, "unchecked": found.unchecked}}
                    if found
                    else {}
                ),
            }
        )
        return
    spec = resolved.stack
    model = (
        f", model {resolved.catalog.model_name(spec.deployment.model)}" if spec.deployment else ""
    )
    typer.echo(
        f"ok: {target} is valid for env {env} (stack {spec.name}, catalog {spec.catalog}{model})"
    )
    if found:
        for line in found.checked:
            typer.echo(f"  checked: {line}")
        for line in found.unchecked:
            typer.echo(f"  not checked: {line}")


@handles_errors
def plan(
    stack: StackOption = Path("stack.yaml"), env: EnvOption = "dev", as_json: JsonOption = False
) -> None:
    """Print the stages `stacks run` executes, with the tables and model each reads and writes."""
    from lakestacks import api

    resolved = api.load_stack(stack, env=env)
    stages = api.plan(resolved)
    if as_json:
        emit_json(
            {
                "stack": str(stack),
                "env": env,
                "lake": resolved.runtime.lake,
                "stages": [dataclasses.asdict(s) for s in stages],
            }
        )
        return
    from rich.console import Console
    from rich.table import Table

    runtime = resolved.runtime
    table = Table(title=f"Plan: {resolved.stack.name} (env {env})", title_justify="left")
    for column in ("#", "stage", "reads", "writes", "how"):
        table.add_column(column, overflow="fold")
    for i, stage in enumerate(stages, 1):
        name = f"{stage.name} (later release)" if stage.later else stage.name
        table.add_row(str(i), name, "\n".join(stage.reads), "\n".join(stage.writes), stage.note)
    console = Console(width=max(120, Console().width))
    console.print(table)
    console.print(f"lake: {runtime.lake}\ntracking: {runtime.tracking_uri}")


@handles_errors
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of stack files, for editor completion."""
    from lakestacks.spec import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}")
