"""The exception types every layer raises, each carrying its CLI exit code.

DESIGN.md fixes the codes: 2 user error, 3 model gate rejected, 4 awaiting approval,
1 internal error. The CLI prints ``str(error)`` and exits with ``error.exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AwaitingApproval",
    "GateRejected",
    "LakestacksError",
    "Problem",
    "StackError",
    "UserError",
]


class LakestacksError(Exception):
    """Base of the errors the CLI turns into one line and an exit code."""

    exit_code: int = 1


class UserError(LakestacksError):
    """Bad input from the user: a stack file, a name, a table, a request."""

    exit_code = 2


class GateRejected(LakestacksError):
    """A model gate in ``enforce`` mode rejected the candidate."""

    exit_code = 3


class AwaitingApproval(LakestacksError):
    """The run stopped at a manual approval gate."""

    exit_code = 4


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a stack file, located as precisely as the YAML allows.

    Attributes:
        file: The stack file's path as the user gave it.
        line: 1-based line, or 0 when the problem has no position in the file.
        column: 1-based column, or 0 when unknown.
        path: The dotted field path, e.g. ``training.trainer.max_epochs``.
        message: What is wrong, naming the bad value.
        hint: How to fix it.
    """

    file: str
    line: int
    column: int
    path: str
    message: str
    hint: str = ""

    def render(self) -> str:
        """One problem as ``file:line:col: path: message`` plus an indented fix line."""
        where = self.file if self.line == 0 else f"{self.file}:{self.line}:{self.column}"
        head = f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"
        return f"{head}\n    fix: {self.hint}" if self.hint else head


class StackError(UserError):
    """A stack file that does not validate; holds every problem found, not only the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        noun = "problem" if len(problems) == 1 else "problems"
        body = "\n".join(p.render() for p in problems)
        super().__init__(f"{len(problems)} {noun} in the stack:\n{body}")
