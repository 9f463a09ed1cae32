"""YAML to plain data, keeping where each value and key sits in the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from lakestacks.errors import Problem, StackError

__all__ = ["Loc", "Positions", "parse"]

Loc = tuple[str | int, ...]


@dataclass
class Positions:
    """1-based (line, column) of each value, and of each mapping key, by field path."""

    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def move(self, src: Loc, dst: Loc) -> None:
        """Make the positions under ``src`` those of ``dst`` too (an environment overlay)."""
        for table in (self.values, self.keys):
            for loc in [loc for loc in table if loc[: len(src)] == src]:
                table[dst + loc[len(src) :]] = table[loc]

    def drop(self, under: Loc) -> None:
        """Forget the positions strictly under ``under`` (a value replaced by an overlay)."""
        for table in (self.values, self.keys):
            for loc in [loc for loc in table if loc[: len(under)] == under and loc != under]:
                del table[loc]


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_MARKERS = ("<<<<<<< ", "=======", ">>>>>>> ", "||||||| ")
# Bounds on what a stack file may expand to. A real stack holds a few hundred values in a few
# kilobytes; YAML aliases (`&a` ... `*a`) can make a few lines expand to billions of values
# (an "alias bomb"), and CI runs `stacks validate` on every pull request.
MAX_BYTES = 1_000_000
MAX_VALUES = 100_000


class _Recursive(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds with every alias expanded, without expanding them:
    a composed document shares an aliased node, so each node's size is counted once."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _Recursive(node)
        active.add(key)
        total = 1
        if isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _bounded(root: yaml.Node, file: str) -> None:
    """Refuse a document that refers to itself or expands past ``MAX_VALUES``."""
    try:
        total = _expanded_size(root)
    except _Recursive as err:
        line, col = _mark(err.node)
        raise _whole(
            file,
            line,
            col,
            "a YAML alias refers to the value that contains it",
            "write the value out instead of an alias (*name) to its own anchor",
        ) from None
    if total > MAX_VALUES:
        raise _whole(
            file,
            1,
            1,
            f"the stack expands to {total:,} values through YAML aliases (at most {MAX_VALUES:,})",
            "write the repeated parts out, or use fewer nested aliases (*name)",
        )


def _whole(file: str, line: int, col: int, message: str, hint: str) -> StackError:
    """One problem with the document as a whole (no field path)."""
    return StackError([Problem(file, line, col, "", message, hint)])


def _no_conflict_markers(text: str, file: str) -> None:
    """A merge left half-done reads as YAML noise; name it for what it is."""
    found = [
        Problem(
            file,
            number,
            1,
            "",
            f"leftover merge-conflict marker {line.split()[0]!r}",
            "resolve the conflict: keep the lines you want and delete the markers",
        )
        for number, line in enumerate(text.splitlines(), 1)
        if line.startswith(_MARKERS) or line.rstrip() == "======="
    ]
    if found:
        raise StackError(found)


def parse(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document into plain data and the positions of its parts.

    Raises:
        StackError: on a syntax error, a duplicate key or a non-string key.
    """
    if len(text) > MAX_BYTES:
        raise _whole(
            file,
            1,
            1,
            f"the stack file is {len(text):,} characters (at most {MAX_BYTES:,})",
            "keep data out of the stack: point a source at a file instead",
        )
    _no_conflict_markers(text, file)
    loader = yaml.SafeLoader(text)
    positions = Positions()
    problems: list[Problem] = []

    def build(node: yaml.Node, loc: Loc) -> Any:
        positions.values[loc] = _mark(node)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)  # applies YAML merge keys (<<)
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node)
                line, col = _mark(key_node)
                if not isinstance(key, str):
                    problems.append(
                        Problem(
                            file,
                            line,
                            col,
                            _dotted(loc),
                            f"key {key!r} is not text",
                            "quote the key, e.g. '\"1\":'",
                        )
                    )
                    continue
                if key in out:
                    problems.append(
                        Problem(
                            file,
                            line,
                            col,
                            _dotted((*loc, key)),
                            f"duplicate key {key!r}",
                            "keep one of the entries; YAML would silently use the last one",
                        )
                    )
                    continue
                positions.keys[(*loc, key)] = (line, col)
                out[key] = build(value_node, (*loc, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return loader.construct_object(node, deep=True)

    try:
        root = loader.get_single_node()
        if root is not None:
            _bounded(root, file)
        data = None if root is None else build(root, ())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = err.problem or "syntax error"
        raise _whole(
            file,
            line,
            col,
            f"YAML syntax error: {what}",
            "check the indentation and quoting around this line",
        ) from None
    except yaml.YAMLError as err:
        raise _whole(file, 0, 0, f"YAML error: {err}", "fix the YAML") from None
    except RecursionError:
        raise _whole(
            file,
            0,
            0,
            "the YAML is nested too deeply to read",
            "a stack needs a few levels of nesting; flatten the deepest part",
        ) from None
    finally:
        loader.dispose()
    if problems:
        raise StackError(problems)
    return data, positions


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
