"""``stacks run``: the pipeline, or one flow, with a summary table at the end."""

from __future__ import annotations

import dataclasses
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
    from rich.console import Console

    from lakestacks.api import RunOutcome

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
            help="Reuse the data prep and training an earlier (failed) run completed with the "
            "same stack, code and data.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the pipeline or one flow; exit 3 when a gate rejects, 4 when awaiting approval."""
    from lakestacks import api

    if as_json:
        outcome = api.run(stack, flow, env, runner, resume=resume)
        emit_json({**dataclasses.asdict(outcome), "message": outcome.message})
    else:
        progress = sys.stderr.isatty()
        outcome = api.run(stack, flow, env, runner, progress=progress, resume=resume)
        render_outcome(outcome)
    if outcome.exit_code:
        raise fail(outcome.message, outcome.exit_code)


def render_outcome(outcome: RunOutcome) -> None:
    """The summary: tables and versions, metrics side by side, gates, approval, champion,
    time per stage."""
    from rich.console import Console

    console = Console()
    title = f"{outcome.flow} ({outcome.runner} runner, env {outcome.env})"
    console.print(f"[bold]{title}[/bold]")
    if outcome.resumed:
        console.print(
            f"resumed: {', '.join(outcome.resumed)} reused from an earlier run "
            "(same stack, code and data)"
        )
    if outcome.data_prep is not None:
        _render_prep(console, outcome)
    if outcome.training is not None:
        t = outcome.training
        rows = ", ".join(f"{k} {v:,}" for k, v in t.rows.items())
        inputs = ", ".join(f"{k} v{v}" for k, v in t.inputs.items())
        console.print(
            f"trained {t.model}/{t.version} ({t.task}, {t.epochs} epochs, {t.device}) on {inputs}"
            + (f": {rows}" if rows else "")
        )
    if outcome.evaluation is not None and outcome.evaluation.metrics:
        _render_metrics(console, outcome)
    if outcome.evaluation is not None and outcome.evaluation.decisions:
        _render_gates(console, outcome)
    if outcome.decision is not None:
        d = outcome.decision
        state = {
            "promoted": f"approved ({d.approved_by}) and promoted",
            "kept": "not promoted: the champion is still better",
            "rejected": "rejected by a gate",
            "awaiting_approval": "awaiting approval (alias @challenger)",
        }[d.status]
        console.print(f"approval: {state}")
    if outcome.batch is not None:
        b = outcome.batch
        console.print(
            f"batch: scored {b.input} v{b.input_version} with {b.model}/{b.version} "
            f"-> {b.output} v{b.output_version} ({b.rows:,} rows)"
        )
    if outcome.training is not None or outcome.decision is not None:
        champion = f"v{outcome.champion}" if outcome.champion else "none"
        model = outcome.training.model if outcome.training else outcome.decision.model  # type: ignore[union-attr]
        console.print(f"champion: [bold]{model}@champion = {champion}[/bold]")
    _render_times(console, outcome)
    if outcome.not_built:
        console.print(f"not built yet, skipped: {', '.join(outcome.not_built)}")
    if outcome.exit_code == 0 and outcome.message:
        console.print(outcome.message)


def _render_prep(console: Console, outcome: RunOutcome) -> None:
    from rich.table import Table

    prep = outcome.data_prep
    assert prep is not None  # noqa: S101
    table = Table(title="tables", title_justify="left")
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


def _render_metrics(console: Console, outcome: RunOutcome) -> None:
    from rich.table import Table

    ev = outcome.evaluation
    assert ev is not None  # noqa: S101
    champion = f"champion v{ev.champion_version}" if ev.champion_version else "champion (none)"
    table = Table(title=f"test metrics ({ev.rows:,} rows)", title_justify="left")
    table.add_column("metric")
    table.add_column(f"challenger v{ev.version}", justify="right")
    table.add_column(champion, justify="right")
    for name, value in ev.metrics.items():
        other = (ev.champion_metrics or {}).get(name)
        table.add_row(name, f"{value:.4f}", "" if other is None else f"{other:.4f}")
    console.print(table)


def _render_gates(console: Console, outcome: RunOutcome) -> None:
    from rich.table import Table

    ev = outcome.evaluation
    assert ev is not None  # noqa: S101
    table = Table(title=f"gates ({ev.mode})", title_justify="left")
    for column in ("gate", "observed", "threshold", "result", "why"):
        table.add_column(column, justify="right" if column in ("observed", "threshold") else "left")
    for d in ev.decisions:
        observed = "" if d.get("observed") is None else f"{d['observed']:.4f}"
        threshold = "" if d.get("threshold") is None else f"{d['threshold']:.4f}"
        result = "[green]pass[/green]" if d["passed"] else "[red]fail[/red]"
        table.add_row(d["gate"], observed, threshold, result, d["reason"])
    console.print(table)


def _render_times(console: Console, outcome: RunOutcome) -> None:
    stages: dict[str, float] = {}
    for step, seconds in outcome.steps:
        stage = _STEP_STAGE.get(step.split(" ", 1)[0], step)
        stages[stage] = stages.get(stage, 0.0) + seconds
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
    console.print(f"time: {outcome.seconds:.1f} s" + (f" ({parts})" if parts else ""))


# Runner steps grouped into the stages of the plan.
_STEP_STAGE = {
    "ingest": "data_prep", "transform": "data_prep", "validate": "data_prep",
    "split": "data_prep", "commit": "data_prep", "quarantine": "data_prep",
    "record": "data_prep", "train": "training", "register": "training",
    "score": "evaluation", "gates": "evaluation", "approval": "approval",
    "deployment": "deployment", "batch": "batch_inference",
}  # fmt: skip
