"""``stacks serve``: the stack's model over REST, with an inference table."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from lakestacks import JSON_SCHEMA
from lakestacks.cli._common import EnvOption, JsonOption, StackOption, handles_errors

__all__ = ["serve"]


def _line(event: dict[str, Any]) -> None:
    """One ``--json`` event: a line of its own, stamped with the schema version."""
    print(json.dumps({"schema": JSON_SCHEMA, **event}), flush=True)  # noqa: T201


def _version(version: int | None) -> str:
    return f"v{version}" if version is not None else "none"


def _ready(as_json: bool) -> Any:
    def ready(url: str, served: dict[str, Any]) -> None:
        if as_json:
            _line({"event": "ready", "url": url, **served})
            return
        from rich.console import Console

        console = Console(soft_wrap=True)  # URLs stay whole in narrow or piped output
        for name, arms in served["endpoints"].items():
            shares = ", ".join(
                f"{arm}={_version(a['version'])} ({a['traffic_percent']:g}%)"
                for arm, a in arms.items()
            )
            console.print(
                f"[bold]{name}[/]: {shares}  POST {url}/serving-endpoints/{name}/invocations"
            )
        table = served["inference_table"] or "off"
        if served.get("recovered_rows"):
            table += f" ({served['recovered_rows']:,} rows a stopped server left were written)"
        console.print(f"serving at [bold]{url}[/] (POST /invocations); inference table: {table}")
        console.print("Ctrl+C stops; requests in flight finish and the inference table is written")

    return ready


def _event(as_json: bool) -> Any:
    def event(message: str) -> None:
        if as_json:
            _line({"event": "swap", "message": message})
        else:
            sys.stdout.write(f"{datetime.now():%H:%M:%S} {message}\n")
            sys.stdout.flush()

    return event


def _tls(certfile: Path | None, keyfile: Path | None) -> tuple[str, str] | None:
    if certfile is None and keyfile is None:
        return None
    if certfile is None or keyfile is None:
        raise typer.BadParameter("give both --ssl-certfile and --ssl-keyfile for TLS")
    return str(certfile), str(keyfile)


@handles_errors
def serve(
    stack: StackOption = Path("stack.yaml"),
    env: EnvOption = "dev",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help="NAME, NAME@alias or NAME/3, maybe =PERCENT; repeat to serve several or to "
            "split one model's traffic (churn_model@champion=90 churn_model@challenger=10).",
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; 0 picks a free one.")] = None,
    poll: Annotated[
        float | None, typer.Option(help="Seconds between alias checks for a hot swap.")
    ] = None,
    graceful_timeout: Annotated[
        float | None,
        typer.Option(
            "--graceful-timeout",
            help="Seconds requests in flight may take after SIGTERM (default 20).",
            min=0.1,
        ),
    ] = None,
    ssl_certfile: Annotated[
        Path | None,
        typer.Option("--ssl-certfile", help="Serve HTTPS with this PEM certificate (chain)."),
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option("--ssl-keyfile", help="The certificate's private key (PEM).")
    ] = None,
    recover: Annotated[
        bool,
        typer.Option(
            "--recover",
            help="Write the rows crashed servers left in the write-ahead log to the inference "
            "table, then exit (a server does this itself when it starts).",
        ),
    ] = False,
    hash_token: Annotated[
        bool,
        typer.Option("--hash-token", help="Read a token on stdin, print its SHA-256, exit."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Serve the champion over REST (MLflow's scoring protocol) until Ctrl+C."""
    from lakestacks import api

    if hash_token:
        print(api.hash_token(sys.stdin.readline().strip()))  # noqa: T201
        return
    if recover:
        name, rows = api.recover_inference_log(stack, env=env)
        if as_json:
            _line({"event": "recovered", "inference_table": name, "rows": rows})
        else:
            typer.echo(f"{name}: {rows:,} rows recovered from the write-ahead log")
        return
    summary = api.serve(
        stack,
        env=env,
        models=model or [],
        host=host,
        port=port,
        poll_seconds=poll,
        on_ready=_ready(as_json),
        on_event=_event(as_json),
        graceful_seconds=graceful_timeout,
        tls=_tls(ssl_certfile, ssl_keyfile),
    )
    log = summary.log
    if as_json:  # one event per line, like the ready and swap events
        stopped = {
            "schema": JSON_SCHEMA,
            "event": "stopped",
            "url": summary.url,
            "endpoints": summary.endpoints,
            "errors": summary.errors,
            "inference_log": log.__dict__ if log else None,
        }
        _line(stopped)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("endpoint", "arm", "version", "requests", title="served")
    for name, arms in summary.endpoints.items():
        for arm, a in arms.items():
            table.add_row(name, arm, _version(a["version"]), f"{a['requests']:,}")
    console = Console()
    console.print(table)
    if summary.errors:
        console.print(
            "refused or failed: "
            + ", ".join(f"{n:,} x {c}" for c, n in sorted(summary.errors.items()))
        )
    if log is not None:
        where = f"{log.table} v{log.version}" if log.version is not None else log.table
        console.print(
            f"inference table: {log.rows_written:,} rows in {log.writes} writes -> {where}"
        )
        if log.spilled:
            console.print(f"[red]not written to the table; saved to {log.spilled}[/]")
