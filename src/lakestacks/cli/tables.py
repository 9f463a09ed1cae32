"""``stacks tables``, ``stacks table show`` and ``stacks history``: the Delta tables of a stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lakestacks.cli._common import EnvOption, JsonOption, StackOption, emit_json, handles_errors

__all__ = ["history", "table_app", "tables"]

table_app = typer.Typer(help="Look at one table.", no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="Table: short ('features') or full name.")]


@handles_errors
def tables(
    stack: StackOption = Path("stack.yaml"), env: EnvOption = "dev", as_json: JsonOption = False
) -> None:
    """Each table with its version, row count and last write."""
    from lakestacks import api

    found = api.tables(stack, env=env)
    if as_json:
        emit_json(
            {
                "tables": [
                    {
                        "table": name,
                        "version": info.version,
                        "rows": info.rows,
                        "last_write": info.last_write,
                        "operation": info.operation,
                        "path": info.path,
                    }
                    for name, info in found
                ]
            }
        )
        return
    if not found:
        typer.echo("no tables yet: run `stacks run data_prep`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("table", "version", "rows", "last write (UTC)", "operation"):
        right = column in ("version", "rows")
        table.add_column(column, justify="right" if right else "left", no_wrap=column == "table")
    for name, info in found:
        table.add_row(
            name,
            str(info.version),
            f"{info.rows:,}",
            info.last_write.strftime("%Y-%m-%d %H:%M:%S"),
            info.operation,
        )
    Console().print(table)


@table_app.command("show")
@handles_errors
def show(
    name: NameArg,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    version: Annotated[int | None, typer.Option(help="Read as of this version.", min=0)] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.", min=1)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The first rows of a table, optionally as of a version (time travel)."""
    from lakestacks import api

    rows = api.table_show(name, path=stack, env=env, version=version, limit=limit)
    if as_json:
        emit_json({"table": name, "rows": rows.to_pylist()})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in rows.column_names:
        table.add_column(column, overflow="fold")
    for row in rows.to_pylist():
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    Console().print(table)


@handles_errors
def history(
    name: NameArg,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    as_json: JsonOption = False,
) -> None:
    """A table's versions: when, which operation, how many rows."""
    from lakestacks import api

    entries = api.table_history(name, path=stack, env=env)
    if as_json:
        emit_json({"table": name, "history": entries})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    for column in ("version", "time", "operation", "rows", "details"):
        table.add_column(column, justify="right" if column in ("version", "rows") else "left")
    for entry in entries:
        params = entry["parameters"]
        detail = ", ".join(f"{k}={v}" for k, v in params.items() if k in ("mode", "predicate"))
        table.add_row(
            str(entry["version"]),
            entry["timestamp"].strftime("%Y-%m-%d %H:%M:%S"),
            str(entry["operation"]),
            "" if entry["rows"] is None else str(entry["rows"]),
            detail,
        )
    Console().print(table)
