"""The ``stacks`` app: global options and the registration of each command group."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from lakestacks import __version__
from lakestacks.cli import deploy, models, project, run, serve, tables, validate

__all__ = ["app", "main"]

app = typer.Typer(
    name="stacks",
    help="MLOps as code: one validated stack file runs a model's whole lifecycle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command()(project.init)
app.add_typer(project.add_app, name="add")
app.command()(project.update)
app.command()(validate.validate)
app.command()(validate.plan)
app.command()(validate.schema)
app.command()(run.run)
app.command()(run.monitor)
app.command()(tables.tables)
app.add_typer(tables.table_app, name="table")
app.command()(tables.history)
app.command()(models.models)
app.command()(models.lineage)
app.command()(models.approve)
app.command()(models.reject)
app.command()(models.rollback)
app.command()(serve.serve)
app.command()(deploy.deploy)
app.command()(deploy.undeploy)
app.command()(deploy.trigger)
app.add_typer(deploy.server_app, name="server")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lakestacks {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """MLOps as code: one validated stack file runs a model's whole lifecycle."""
    # delta-rs appends a Rust backtrace to its messages when RUST_BACKTRACE is set, and the
    # CLI prints messages, never traces (STACKS_DEBUG=1 keeps them). Rust reads the variable
    # at its first error, after this: no Rust code has run yet.
    if not os.environ.get("STACKS_DEBUG"):
        os.environ["RUST_BACKTRACE"] = os.environ["RUST_LIB_BACKTRACE"] = "0"


def main() -> None:
    """Console-script entry point."""
    app()
