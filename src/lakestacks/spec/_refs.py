"""Static checks of ``module:name`` references: find the module and the name without importing.

``importlib.util.find_spec("a.b")`` imports package ``a`` to find ``a.b``; validation must run
no user code, so this walks the package path with :class:`importlib.machinery.PathFinder`
and reads the module's source with :mod:`ast` to see that the name is defined there.
"""

from __future__ import annotations

import ast
import difflib
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path
from typing import Any

from lakestacks.errors import UserError

__all__ = ["check_ref", "code_search_path", "find_module", "load_ref"]


def code_search_path(base_dir: Path) -> list[str]:
    """Where a stack's own modules are looked for: its folder, then its ``src/`` (a project
    made by ``stacks init`` keeps its package there), so nothing needs installing first."""
    src = base_dir / "src"
    return [str(base_dir), *([str(src)] if src.is_dir() else [])]


def find_module(module: str, search_path: Sequence[str]) -> ModuleSpec | None:
    """The spec of a dotted module found on ``search_path`` then ``sys.path``, importing nothing."""
    parts = module.split(".")
    paths: list[str] = [*search_path, *sys.path]
    spec: ModuleSpec | None = None
    for i, part in enumerate(parts):
        spec = PathFinder.find_spec(part, paths)
        if spec is None:
            return None
        if i < len(parts) - 1:
            locations = spec.submodule_search_locations
            if not locations:
                return None
            paths = list(locations)
    return spec


def _defined_names(source: str) -> set[str] | None:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.If | ast.Try):
            # Names bound conditionally (try/except imports): accept rather than guess.
            return None
    return names


def check_ref(ref: str, search_path: Sequence[str]) -> str:
    """Return ``ref`` if its module exists and defines its name, else raise ``ValueError``."""
    module, _, name = ref.partition(":")
    spec = find_module(module, search_path)
    if spec is None:
        raise ValueError(
            f"module {module!r} not found on the stack's folder or the installed packages; "
            "check the spelling, or install the package that provides it"
        )
    origin = spec.origin
    if origin and origin.endswith(".py") and Path(origin).is_file():
        names = _defined_names(Path(origin).read_text(encoding="utf-8"))
        if names is not None and name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            maybe = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"module {module!r} ({origin}) defines no {name!r}{maybe}")
    return ref


def load_ref(ref: str, search_path: Sequence[str]) -> Any:
    """Import and return the object a ``module:name`` reference names (this runs user code).

    The stack's folder goes first on ``sys.path`` so a project's own modules are found the
    same way validation found them.
    """
    import importlib

    module, _, name = ref.partition(":")
    for entry in reversed(search_path):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        return getattr(importlib.import_module(module), name)
    except Exception as err:  # user code: any error is the user's to fix, in one line
        raise UserError(f"could not load {ref}: {type(err).__name__}: {err}") from None
