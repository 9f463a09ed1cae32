"""``stacks run``: the pipeline, or one flow, with a summary table at the end."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TextIO

import typer

from lakestacks.cli._common import (
    EnvOption,
    JsonOption,
    StackOption,
    console,
    emit_json,
    fail,
    handles_errors,
)

if TYPE_CHECKING:
    from rich.table import Table

    from lakestacks.api import RunOutcome
    from lakestacks.events import Event
    from lakestacks.flows import SummaryTable

__all__ = ["StageLines", "render_outcome", "run"]


class StageLines:
    """A hook that writes one plain line as each stage starts and ends, at once.

    Plain lines (no colour, no redrawing) read the same on a terminal, in a CI log and
    through ``| tee``; each is flushed, so it shows while the run goes on.

    Example:
        >>> import sys
        >>> from lakestacks.events import Dispatcher
        >>> events = Dispatcher(stack="churn", env="dev")
        >>> events.add_hook(StageLines(sys.stdout))
        >>> events.emit(events.event("stage_started", stage="data_prep"))
        stage data_prep started
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def on_event(self, event: Event) -> None:
        """Write the line of a stage's start, end or failure; ignore every other event."""
        stage = event.stage
        if stage is None:
            return
        if event.type == "stage_started":
            line = f"stage {stage} started"
        elif event.type == "stage_finished":
            # "data_prep done", "data_prep had nothing to do", "... (reused)"
            what = event.message.removeprefix(f"{stage} ") or "done"
            seconds = event.details.get("seconds")
            took = f" in {seconds:.1f} s" if isinstance(seconds, int | float) else ""
            line = f"stage {stage} {what}{took}"
        elif event.type == "stage_failed":
            line = f"stage {stage} failed: {event.message}"
        else:
            return
        self._stream.write(" ".join(line.split()) + "\n")  # one line, whatever the message
        self._stream.flush()


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
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Retrain even when the champion was trained on the same data, stack and code.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline or one flow; exit 3 when a gate rejects, 4 when awaiting approval."""
    from lakestacks import api

    progress = not as_json and sys.stderr.isatty()
    # One line per stage as it starts and ends; with --json, stdout is the document alone.
    lines = StageLines(sys.stderr if as_json else sys.stdout)
    outcome = api.run(
        stack,
        flow=flow,
        env=env,
        runner=runner,
        progress=progress,
        resume=resume,
        force=force,
        hooks=[lines],
    )
    _finish(outcome, as_json)


def _finish(outcome: RunOutcome, as_json: bool) -> None:
    """Print the outcome (its JSON document, or the summary); exit with its code."""
    if as_json:
        emit_json(outcome.to_json())
    else:
        render_outcome(outcome)
    if outcome.exit_code:
        raise fail(outcome.message, outcome.exit_code)


def render_outcome(outcome: RunOutcome) -> None:
    """The summary: what each stage did (as it summarises itself), the champion, the time
    per stage."""
    out = console()
    title = f"{outcome.flow} ({outcome.runner} runner, env {outcome.env})"
    out.print(f"[bold]{title}[/bold]")
    if outcome.resumed:
        out.print(
            f"resumed: {', '.join(outcome.resumed)} reused from an earlier run "
            "(same stack, code and data)"
        )
    for blocks in outcome.summaries.values():
        for block in blocks:
            if isinstance(block, str):
                out.print(block, markup=False)
            else:
                out.print(_table(block))
    if outcome.result.model is not None:
        champion = f"v{outcome.champion}" if outcome.champion else "none"
        out.print(f"champion: [bold]{outcome.result.model}@champion = {champion}[/bold]")
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in outcome.result.seconds.items())
    out.print(f"time: {outcome.seconds:.1f} s" + (f" ({parts})" if parts else ""))
    for line in outcome.notifications:  # recorded in _audit; the run's result stands
        out.print(f"notification failed: {line}", markup=False)
    if outcome.not_built:
        out.print(f"not built yet, skipped: {', '.join(outcome.not_built)}")
    if outcome.exit_code == 0 and outcome.message:
        out.print(outcome.message, markup=False)


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


@handles_errors
def monitor(
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    since: Annotated[
        datetime | None,
        typer.Option(
            "--since",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
            help="Recompute windows from this UTC time on, instead of after the last one.",
        ),
    ] = None,
    runner: Annotated[
        str, typer.Option("--runner", envvar="STACKS_RUNNER", help="auto, prefect or direct.")
    ] = "auto",
    report: Annotated[
        bool,
        typer.Option(
            "--report",
            help="Write the monitoring page (one offline HTML file under the lake's _reports/) "
            "from the metric tables, and print its path; computes nothing.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Watch the inference table: profile and drift of each new window, and the breach rule."""
    from lakestacks import api

    if report:
        page = api.monitoring_report(stack, env=env)
        if as_json:
            emit_json({"report": str(page)})
        else:
            typer.echo(str(page))
        return
    lines = StageLines(sys.stderr if as_json else sys.stdout)
    start = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    outcome = api.run(stack, flow="monitoring", env=env, runner=runner, hooks=[lines], since=start)
    _finish(outcome, as_json)
