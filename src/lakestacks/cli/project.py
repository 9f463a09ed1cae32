"""``stacks init``, ``stacks add ci`` and ``stacks update``: making and refreshing projects."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer

from lakestacks.cli._common import JsonOption, emit_json, handles_errors
from lakestacks.errors import UserError

__all__ = ["add_app", "init", "update"]

add_app = typer.Typer(help="Add to an existing project.", no_args_is_help=True)
ProjectOption = Annotated[
    Path, typer.Option("--dir", "-d", help="The project's folder.", show_default=True)
]


@handles_errors
def init(
    name: Annotated[str, typer.Argument(help="The project's name, e.g. churn; also its package.")],
    template: Annotated[
        str, typer.Option("--template", "-t", help="tabular-classifier or regression.")
    ] = "tabular-classifier",
    ci: Annotated[
        str, typer.Option("--ci", help="CI workflows: github, gitlab or none.")
    ] = "github",
    directory: Annotated[
        Path | None, typer.Option("--dir", "-d", help="Where the project goes [default: ./NAME].")
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing: defaults and --config answers.")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="A YAML file of answers to the questions.")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Write into a folder that is not empty.")
    ] = False,
    lakestacks_spec: Annotated[
        str | None,
        typer.Option(
            "--lakestacks-spec",
            help="How the project and its CI install lakestacks: a pip requirement or URL, "
            "e.g. git+https://github.com/ORG/lakestacks@REF [default: this lakestacks].",
        ),
    ] = None,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="Make no git repository and first commit.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a new project from a template: stack, code, tests, flows and CI, ready to run,
    as a git repository with a first commit."""
    from lakestacks import api

    interactive = not no_input and not as_json and sys.stdin.isatty() and sys.stdout.isatty()
    made = api.init(
        name,
        template,
        ci,
        directory,
        force=force,
        interactive=interactive,
        config=config,
        lakestacks_spec=lakestacks_spec,
        git=not no_git,
    )
    if as_json:
        emit_json(dataclasses.asdict(made))
        return
    ci_text = ", ".join(made.ci) or "no CI"
    typer.echo(f"made {made.path} from {made.template} ({len(made.files)} files, {ci_text})")
    typer.echo(f"  lakestacks: {made.requirement}")
    if made.git:
        typer.echo(f"  git: {made.git}")
    typer.echo(f"next: cd {made.path} && stacks validate && stacks run && pytest")


@add_app.command("ci")
@handles_errors
def add_ci(
    flavour: Annotated[str, typer.Argument(help="github or gitlab.")],
    project: ProjectOption = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Replace files in the way.")] = False,
) -> None:
    """Add CI workflows to a project made by `stacks init`."""
    from lakestacks import api

    added = api.add_ci(project, flavour, force=force)
    typer.echo(f"added {flavour} CI to {added.path}: {', '.join(added.files)}")


@handles_errors
def update(project: ProjectOption = Path("."), as_json: JsonOption = False) -> None:
    """Bring this lakestacks' template into the project, keeping your edits.

    Files you did not edit take the new template's version; edits and template changes to
    different lines are merged; the same lines changed on both sides are left with conflict
    markers, listed, and the command exits with code 2.
    """
    from lakestacks import api

    report = api.update(project)
    if as_json:
        emit_json(dataclasses.asdict(report))
    else:
        typer.echo(f"template {report.old_version} -> {report.new_version} in {report.path}")
        for label, paths in (
            ("updated", report.updated),
            ("merged with your edits", report.merged),
            ("added", report.added),
            ("removed", report.removed),
            ("kept your version (dropped from the template)", report.kept),
            ("CONFLICT", report.conflicts),
        ):
            for path in paths:
                typer.echo(f"  {label}: {path}")
        if report.unchanged:
            typer.echo("  nothing to change: the project has the template's latest changes")
    if report.conflicts:
        raise UserError(
            f"{len(report.conflicts)} file(s) changed both here and in the template: "
            f"{', '.join(report.conflicts)}; resolve the <<<<<<< markers (a file deleted "
            "here is left deleted), then commit"
        )
