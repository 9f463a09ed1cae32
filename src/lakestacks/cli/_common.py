"""What every command shares: the common options, error handling and output helpers."""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from lakestacks import JSON_SCHEMA
from lakestacks.errors import LakestacksError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "EnvOption",
    "JsonOption",
    "StackOption",
    "console",
    "emit_json",
    "fail",
    "handles_errors",
]

P = ParamSpec("P")
R = TypeVar("R")

StackOption = Annotated[
    Path,
    typer.Option("--stack", "-s", help="The stack file.", show_default=True),
]
EnvOption = Annotated[str, typer.Option("--env", "-e", help="The environment to resolve.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]

# Off a terminal (CI logs, `| tee`), wide enough that no line is ever cut for grep.
_UNWRAPPED_WIDTH = 100_000


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(code)


# The machine's answer, not a bug of ours: a path too long, no permission, a full or
# read-only disk. Said as such, with the path, and exit 2.
_USER_OS_ERRORS = frozenset(
    {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EDQUOT}
)


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn lakestacks errors into one message and their exit code; never a traceback.

    Set ``STACKS_DEBUG=1`` to see the traceback of an internal error.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LakestacksError as err:
            raise fail(str(err), err.exit_code) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as err:
            if os.environ.get("STACKS_DEBUG"):
                raise
            if isinstance(err, OSError) and err.errno in _USER_OS_ERRORS:
                where = f" {err.filename}" if err.filename else ""
                raise fail(f"cannot write or read{where}: {err.strerror}", 2) from None
            raise fail(
                f"internal error: {type(err).__name__}: {err} (set STACKS_DEBUG=1 for details)", 1
            ) from None

    return wrapper


def emit_json(payload: Mapping[str, Any]) -> None:
    """Write one JSON document to stdout, stamped with the schema version of ``--json``
    output (``"schema": 1``; the README lists each command's fields)."""
    document = {"schema": JSON_SCHEMA, **payload}
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def console() -> Console:
    """The console for a command's output on stdout.

    On a terminal it fits the terminal. Otherwise (CI logs, a pipe) Rich would wrap at 80
    columns and break grep, so no line is wrapped: tables take their natural width, unless
    ``COLUMNS`` says otherwise.
    """
    from rich.console import Console

    out = Console()
    if not out.is_terminal:
        out.soft_wrap = True  # a long text line stays one line
        if not os.environ.get("COLUMNS"):
            out.width = _UNWRAPPED_WIDTH
    return out
