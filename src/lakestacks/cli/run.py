"""``stacks run``: the pipeline, or one flow, with a summary table at the end."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from lakestacks.cli._common import EnvOption, JsonOption, StackOption, emit_json, handles_errors

if TYPE_CHECKING:
    from lakestacks.api import RunOutcome

__all__ = ["run"]


@handles_errors
def run(
    flow: Annotated[
        str, typer.Argument(help="'pipeline' (default) or one flow, e.g. data_prep.")
    ] = "pipeline",
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    runner: Annotated[
        str,
        typer.Option(
            "--runner",
            envvar="STACKS_RUNNER",
            help="auto: Prefect when PREFECT_API_URL (or the env's prefect_api_url) is set, "
            "else direct; prefect; direct.",
        ),
    ] = "auto",
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline or one flow on the selected environment."""
    from lakestacks import api

    if as_json:
        outcome = api.run(stack, flow, env, runner)
        emit_json(dataclasses.asdict(outcome))
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(f"running {flow} (env {env})", spinner="dots"):
        outcome = api.run(stack, flow, env, runner)
    _render(outcome)


def _render(outcome: RunOutcome) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    prep = outcome.data_prep
    if prep is not None:
        table = Table(
            title=f"data_prep ({outcome.runner} runner, env {outcome.env})", title_justify="left"
        )
        for column in ("table", "version", "rows", "checks"):
            table.add_column(column, justify="right" if column in ("version", "rows") else "left")
        checks = {v["table"]: v for v in prep.validations}
        for name, version in prep.wrote.items():
            check = checks.get(name)
            state = ""
            if check:
                failed = len(check["failed"])
                state = f"{check['checks'] - failed}/{check['checks']} passed ({check['mode']})"
            table.add_row(name, str(version), f"{prep.rows.get(name, 0):,}", state)
        for name, rows in prep.quarantined.items():
            table.add_row(name, "", f"{rows:,}", "quarantined rows")
        console.print(table)
        if prep.split:
            counts = ", ".join(f"{k} {v:,}" for k, v in prep.split["counts"].items())
            console.print(f"split {prep.split['table']} by {prep.split['by']}: {counts}")
    if outcome.not_built:
        console.print(f"not built yet, skipped: {', '.join(outcome.not_built)}")
    console.print(f"done in {outcome.seconds:.1f} s")
