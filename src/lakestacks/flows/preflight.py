"""``stacks validate --deep``: what a static check cannot see, checked before anything runs.

Static validation reads the stack file and runs no user code. The deep check imports the
functions and the model class the stack names, checks the ``params`` given to each against its
signature (names and types), and checks the columns the stack names (target, features,
expectation columns, split key) against the tables and source files that exist. It writes
nothing; what it cannot check yet (a table no run has written) it says so.
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lakestacks.data.sources import source_columns
from lakestacks.data.tables import TableNotFound, table_columns, table_exists
from lakestacks.errors import UserError
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import load_ref
from lakestacks.spec._yaml import Loc
from lakestacks.spec.checks import Finding, split_table

__all__ = ["DeepCheck", "deep_check"]

# Keyword arguments lakestacks passes itself, so a stack must not (and need not) give them.
_INJECTED_MODEL_ARGS = frozenset({"n_features"})
# Expectation arguments that name a column, and those that name several.
_COLUMN_ARGS = ("column", "column_A", "column_B")
_COLUMN_LIST_ARGS = ("column_list",)


@dataclass
class DeepCheck:
    """What the deep check found, what it checked and what it could not check yet."""

    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


def _suggest(name: str, known: Iterable[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"it takes: {', '.join(names)}" if names else "it takes no keyword arguments"


def _type_text(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _fits(value: Any, hint: Any) -> bool:
    """Whether ``value``, as YAML gave it, is what the annotation asks for.

    Strict, so ``"64"`` is not an ``int``; a YAML list passes for a tuple, which lax
    validation admits and the function receives as given.
    """
    from pydantic import TypeAdapter, ValidationError

    try:
        adapter = TypeAdapter(hint)
    except Exception:  # an annotation pydantic cannot model: nothing to check against
        return True
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError:
        if not isinstance(value, list):
            return False
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
    return True


def _type_hint(value: Any, key: str, expected: str) -> str:
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            pass
        else:
            return f"write {key}: {value} without quotes"
    return f"give {key} a value of type {expected}"


def _check_call(
    fn: Callable[..., Any],
    what: str,
    given: Mapping[str, Any],
    loc: Loc,
    *,
    passed: Iterable[str] = (),
    injected: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Check keyword arguments ``given`` (at ``loc``) against ``fn``'s signature.

    ``passed`` are the names lakestacks passes as well (a prep step's inputs); ``injected``
    those it passes when the signature takes them (a model's ``n_features``).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check
        return []
    target = fn.__init__ if isinstance(fn, type) else fn  # type: ignore[misc]
    try:
        hints = typing.get_type_hints(target)
    except Exception:  # annotations that do not resolve: check names only
        hints = {}
    params = {
        name: p
        for name, p in signature.parameters.items()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    }
    any_keyword = any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in signature.parameters.values()
    )
    passed = set(passed)
    findings = []
    for key, value in given.items():
        if key in injected:
            findings.append(
                Finding((*loc, key), f"{key} is set by lakestacks; leave it out", f"remove {key}")
            )
        elif key not in params and not any_keyword:
            findings.append(
                Finding(
                    (*loc, key),
                    f"{what} takes no parameter {key!r}",
                    _suggest(key, set(params) - injected - passed),
                )
            )
        elif key in hints and not _fits(value, hints[key]):
            expected = _type_text(hints[key])
            findings.append(
                Finding(
                    (*loc, key),
                    f"{key} is {value!r} ({type(value).__name__}), but {what} takes "
                    f"{key}: {expected}",
                    _type_hint(value, key, expected),
                )
            )
    for name in sorted(passed - set(params)) if not any_keyword else []:
        findings.append(
            Finding(
                loc[:-1],
                f"{what} takes no parameter {name!r}, but lakestacks passes its input {name!r} "
                "by that name",
                f"add a parameter {name} to {what}",
            )
        )
    for name, p in params.items():
        missing = name not in given and name not in passed and name not in injected
        if missing and p.default is inspect.Parameter.empty:
            findings.append(
                Finding(
                    loc,
                    f"{what} needs {name!r}, which is not given",
                    f"add {name} to {'.'.join(map(str, loc))}",
                )
            )
    return findings


def _load(ref: str, loc: Loc, resolved: ResolvedStack, out: DeepCheck) -> Any | None:
    try:
        return load_ref(ref, resolved.search_path)
    except UserError as err:
        out.findings.append(Finding(loc, str(err), "fix the module, or the reference"))
        return None


def _check_code(resolved: ResolvedStack, out: DeepCheck) -> None:
    spec = resolved.stack
    if spec.data is not None:
        for name, source in spec.data.sources.items():
            if source.generator is None:
                continue
            loc: Loc = ("data", "sources", name)
            fn = _load(source.generator, (*loc, "generator"), resolved, out)
            if fn is not None:
                out.findings += _check_call(fn, source.generator, source.params, (*loc, "params"))
                out.checked.append(f"generator {source.generator} and its params")
        for i, step in enumerate(spec.data.prep):
            loc = ("data", "prep", i)
            fn = _load(step.function, (*loc, "function"), resolved, out)
            if fn is None:
                continue
            inputs = step.inputs if step.inputs is not None else list(spec.data.sources)
            out.findings += _check_call(
                fn, step.function, step.params, (*loc, "params"), passed=inputs
            )
            out.checked.append(f"prep function {step.function} and its params")
    if spec.training is not None:
        section = spec.training
        cls = _load(section.model, ("training", "model"), resolved, out)
        if cls is None:
            return
        import lightning.pytorch as pl

        if not (isinstance(cls, type) and issubclass(cls, pl.LightningModule)):
            out.findings.append(
                Finding(
                    ("training", "model"),
                    f"{section.model} is not a LightningModule class",
                    "name a class that subclasses lightning.pytorch.LightningModule",
                )
            )
            return
        out.findings += _check_call(
            cls,
            cls.__name__,
            section.params,
            ("training", "params"),
            injected=_INJECTED_MODEL_ARGS,
        )
        out.checked.append(f"model {section.model} and training.params")


def _columns_of(name: str, resolved: ResolvedStack) -> list[str] | None:
    """A table's columns: the lake's table where a run wrote it, else its source's schema."""
    path = resolved.catalog.table_path(name)
    if table_exists(path):
        return table_columns(path)
    data = resolved.stack.data
    if data is not None and name in data.sources:
        try:
            return source_columns(data.sources[name], resolved.catalog)
        except TableNotFound:
            return None
    return None


def _check_columns(resolved: ResolvedStack, out: DeepCheck) -> None:
    spec = resolved.stack
    wanted: dict[str, list[tuple[Loc, str]]] = {}  # table -> (where, column) pairs
    if spec.data is not None:
        for table, suite in spec.data.expectations.items():
            for i, check in enumerate(suite.checks):
                args = check.model_extra or {}
                loc: Loc = ("data", "expectations", table, "checks", i)
                for key in _COLUMN_ARGS:
                    if isinstance(args.get(key), str):
                        wanted.setdefault(table, []).append(((*loc, key), args[key]))
                for key in _COLUMN_LIST_ARGS:
                    for j, column in enumerate(args.get(key) or []):
                        wanted.setdefault(table, []).append(((*loc, key, j), str(column)))
        split = split_table(spec.data)
        if spec.data.split is not None and split is not None:
            wanted.setdefault(split, []).append((("data", "split", "by"), spec.data.split.by))
    if spec.training is not None:
        section = spec.training
        trained = section.table or (split_table(spec.data) if spec.data else None)
        if trained is not None:
            uses = wanted.setdefault(trained, [])
            uses.append((("training", "target"), section.target))
            uses += [(("training", "features", i), c) for i, c in enumerate(section.features or [])]
    monitoring = spec.monitoring
    if monitoring is not None:
        # monitoring.columns, or the older drift.columns; the timestamp in the watched table.
        where: Loc = (
            ("monitoring", "columns") if monitoring.columns else ("monitoring", "drift", "columns")
        )
        watched = monitoring.columns or monitoring.drift.columns or []
        tables = [monitoring.table] + ([monitoring.baseline] if monitoring.baseline else [])
        for watched_table in dict.fromkeys(tables):
            uses = wanted.setdefault(watched_table, [])
            if watched_table == monitoring.table:
                uses.append((("monitoring", "timestamp"), monitoring.timestamp))
                uses += [(("monitoring", "slices", i), c) for i, c in enumerate(monitoring.slices)]
            uses += [((*where, i), column) for i, column in enumerate(watched)]
    for table, uses in wanted.items():
        name = resolved.catalog.qualify(table)
        columns = _columns_of(table, resolved)
        if columns is None:
            out.unchecked.append(
                f"columns of {name}: no run has written it yet (run data prep, then validate "
                "--deep again)"
            )
            continue
        out.checked.append(f"columns of {name}")
        for loc, column in uses:
            if column not in columns:
                out.findings.append(
                    Finding(
                        loc,
                        f"{name} has no column {column!r}",
                        f"{_suggest_column(column, columns)}; its columns: {', '.join(columns)}",
                    )
                )


def _suggest_column(column: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(column, columns, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}" if close else "name one of its columns"


def deep_check(resolved: ResolvedStack) -> DeepCheck:
    """Import the stack's code and check params and columns against what exists.

    Example:
        >>> deep_check(load_stack("stack.yaml")).findings  # doctest: +SKIP
        [Finding(loc=('training', 'params', 'hiden'), message="MLPClassifier takes no ...")]
    """
    out = DeepCheck()
    _check_code(resolved, out)
    _check_columns(resolved, out)
    return out
