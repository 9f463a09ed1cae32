"""``stacks run``: the pipeline, or one flow, with a summary table at the end."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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
    from rich.table import Table

    from lakestacks.api import RunOutcome
    from lakestacks.flows import SummaryTable

__all__ = ["render_outcome", "run"]


@handles_errors
def run(
    flow: Annotated[
        str, typer.Argument(help="'pipeline' (default) or one flow, e.g. data_prep, training.")
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
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Reuse the stages an earlier (failed) run completed with the same stack, code "
            "and data.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline or one flow; exit 3 when a gate rejects, 4 when awaiting approval."""
    from lakestacks import api

    progress = not as_json and sys.stderr.isatty()
    outcome = api.run(stack, flow=flow, env=env, runner=runner, progress=progress, resume=resume)
    if as_json:
        emit_json(outcome.to_json())
    else:
        render_outcome(outcome)
    if outcome.exit_code:
        raise fail(outcome.message, outcome.exit_code)


def render_outcome(outcome: RunOutcome) -> None:
    """The summary: what each stage did (as it summarises itself), the champion, the time
    per stage."""
    from rich.console import Console

    console = Console()
    title = f"{outcome.flow} ({outcome.runner} runner, env {outcome.env})"
    console.print(f"[bold]{title}[/bold]")
    if outcome.resumed:
        console.print(
            f"resumed: {', '.join(outcome.resumed)} reused from an earlier run "
            "(same stack, code and data)"
        )
    for blocks in outcome.summaries.values():
        for block in blocks:
            if isinstance(block, str):
                console.print(block, markup=False)
            else:
                console.print(_table(block))
    if outcome.result.model is not None:
        champion = f"v{outcome.champion}" if outcome.champion else "none"
        console.print(f"champion: [bold]{outcome.result.model}@champion = {champion}[/bold]")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.result.seconds.items())
    console.print(f"time: {outcome.seconds:.1f} s" + (f" ({parts})" if parts else ""))
    for line in outcome.notifications:  # recorded in _audit; the run's result stands
        console.print(f"notification failed: {line}", markup=False)
    if outcome.not_built:
        console.print(f"not built yet, skipped: {', '.join(outcome.not_built)}")
    if outcome.exit_code == 0 and outcome.message:
        console.print(outcome.message, markup=False)


_VERDICTS = {"pass": "[green]pass[/green]", "fail": "[red]fail[/red]"}


def _table(block: SummaryTable) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=block.title, title_justify="left")
    for column in block.columns:
        table.add_column(column, justify="right" if column in block.right else "left")
    for row in block.rows:
        table.add_row(*(_VERDICTS.get(cell, escape(cell)) for cell in row))
    return table
