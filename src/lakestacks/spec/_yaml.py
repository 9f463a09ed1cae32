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
        data = None if root is None else build(root, ())
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        what = err.problem or "syntax error"
        raise StackError(
            [
                Problem(
                    file,
                    line,
                    col,
                    "",
                    f"YAML syntax error: {what}",
                    "check the indentation and quoting around this line",
                )
            ]
        ) from None
    except yaml.YAMLError as err:
        raise StackError([Problem(file, 0, 0, "", f"YAML error: {err}", "fix the YAML")]) from None
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
