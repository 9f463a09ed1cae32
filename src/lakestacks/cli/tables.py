"""``stacks tables``, ``stacks table show`` and ``stacks history``: the Delta tables of a stack."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakestacks.cli._common import (
    _UNWRAPPED_WIDTH,
    EnvOption,
    JsonOption,
    StackOption,
    console,
    emit_json,
    handles_errors,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

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
    console().print(table)


@table_app.command("show")
@handles_errors
def show(
    name: NameArg,
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    version: Annotated[int | None, typer.Option(help="Read as of this version.", min=0)] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.", min=1)] = 20,
    columns: Annotated[
        str | None,
        typer.Option("--columns", help="Only these columns, comma-separated, e.g. id,x."),
    ] = None,
    vertical: Annotated[
        bool,
        typer.Option(
            "--vertical",
            help="A block per row, a line per column; the layout anyway when the table is "
            "too wide for the terminal.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """The first rows of a table, optionally as of a version (time travel)."""
    from lakestacks import api

    rows = api.table_show(name, path=stack, env=env, version=version, limit=limit)
    if columns is not None:
        rows = rows.select(_columns(columns, rows.column_names))
    if as_json:
        emit_json({"table": name, "rows": rows.to_pylist()})
        return
    from rich.table import Table
    from rich.text import Text

    out = console()
    records = [
        {k: Text("" if v is None else str(v)) for k, v in r.items()} for r in rows.to_pylist()
    ]
    table = Table()
    for column in rows.column_names:
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*record.values())
    if not vertical and _fits(out, table, len(rows.column_names)):
        out.print(table)
        return
    for number, record in enumerate(records, start=1):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, value in record.items():
            grid.add_row(Text(column), value)
        out.print(f"row {number}", style="bold", markup=False)
        out.print(grid)


# Below this width a column of a horizontal table shows too little of its values to read.
_MIN_COLUMN_WIDTH = 12


def _fits(out: Console, table: Table, count: int) -> bool:
    """Whether the horizontal table reads well: whole, or folded into columns still wide
    enough (38 columns in 80 leave none of a value; then the vertical layout)."""
    from rich.measure import Measurement

    unbounded = out.options.update_width(_UNWRAPPED_WIDTH)  # else it stops at the width
    natural = Measurement.get(out, unbounded, table).maximum
    return natural <= out.width or count * _MIN_COLUMN_WIDTH <= out.width


def _columns(wanted: str, available: list[str]) -> list[str]:
    """The names of ``--columns``, in their order; a name the table lacks is a user error."""
    from lakestacks.errors import UserError

    names = [n.strip() for n in wanted.split(",") if n.strip()]
    if not names:
        raise UserError("--columns is empty: name columns, comma-separated, e.g. --columns id,x")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise UserError(
            f"--columns: no column {', '.join(unknown)} in the table; it has {', '.join(available)}"
        )
    return names


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
    console().print(table)
