"""Load a stack file: YAML with positions, environment overlay, interpolation, validation.

Every problem is reported at once, each with file:line:column, the field path, the bad value
and a fix. Sections are validated one by one so that cross-section checks still run on the
sections that are valid.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from lakestacks.catalog import Catalog
from lakestacks.errors import Problem, StackError, UserError
from lakestacks.spec._base import resolve_local
from lakestacks.spec._refs import code_search_path
from lakestacks.spec._yaml import Loc, Positions, parse
from lakestacks.spec.checks import Finding, cross_check
from lakestacks.spec.environment import OVERLAY_SECTIONS, Environment
from lakestacks.spec.plugins import plugin_sections
from lakestacks.spec.stack import Stack

__all__ = ["DEFAULT_ENV", "ResolvedStack", "Runtime", "load_stack", "locate"]

DEFAULT_ENV = "dev"
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Runtime:
    """Where the selected environment keeps tables and runs, with paths made absolute."""

    env: str
    lake: str
    tracking_uri: str
    registry_uri: str
    work_pool: str | None
    prefect_api_url: str | None
    working_dir: str | None = None
    job_variables: dict[str, Any] | None = None


@dataclass(frozen=True)
class ResolvedStack:
    """A validated stack for one environment: the spec, its runtime and its catalog.

    ``extensions`` holds the sections of installed stage plug-ins, validated by their models.
    """

    path: Path
    stack: Stack
    runtime: Runtime
    extensions: Mapping[str, BaseModel] = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        """The stack file's folder; relative paths and user modules resolve against it."""
        return self.path.parent

    @property
    def search_path(self) -> list[str]:
        """Folders searched first for the stack's own modules (see ``code_search_path``)."""
        return code_search_path(self.base_dir)

    @property
    def catalog(self) -> Catalog:
        """Names of this stack's tables and models, resolved under the environment's lake."""
        return Catalog(self.stack.catalog, self.runtime.lake)


def load_stack(
    path: str | Path, env: str = DEFAULT_ENV, environ: Mapping[str, str] | None = None
) -> ResolvedStack:
    """Read, overlay, interpolate and validate a stack file.

    Args:
        path: The stack file.
        env: The environment to resolve; ``dev`` is the embedded default.
        environ: Variables for ``${VAR}`` interpolation; default: the process environment.

    Raises:
        StackError: every problem found, each located in the file.
        UserError: the file is missing.

    Example:
        >>> resolved = load_stack("stacks/quickstart.yaml", env="dev")  # doctest: +SKIP
        >>> resolved.catalog.table_path("features")  # doctest: +SKIP
        '/home/me/proj/stacks/.lake/main/churn/features'
    """
    file = Path(path)
    shown = str(path)
    if not file.is_file():
        raise UserError(
            f"stack file not found: {shown}; pass --stack PATH, or run where stack.yaml is"
        )
    data, positions = parse(file.read_text(encoding="utf-8"), shown)
    if data is None:
        raise StackError(
            [
                Problem(
                    shown,
                    1,
                    1,
                    "",
                    "the stack file is empty",
                    "start with 'version: 1', 'name:', 'catalog:' and 'data:'",
                )
            ]
        )
    if not isinstance(data, dict):
        raise StackError(
            [
                Problem(
                    shown,
                    *positions.values.get((), (1, 1)),
                    "",
                    "the stack file must be a mapping of keys",
                    "start with 'version: 1', 'name:', 'catalog:' and 'data:'",
                )
            ]
        )
    base_dir = file.resolve().parent
    data = _select_environment(data, positions, env, shown)
    problems: list[Problem] = []
    data = _interpolate(
        data, (), positions, os.environ if environ is None else environ, env, shown, problems
    )
    context = {"base_dir": base_dir, "search_path": code_search_path(base_dir)}
    # Plug-ins load only for a key the stack itself does not know, so a plain stack's
    # validation imports nothing beyond lakestacks.
    plugins = plugin_sections() if any(k not in Stack.model_fields for k in data) else {}
    sections, failed, found = _validate_sections(data, context, plugins)
    unset = {p.path for p in problems}  # an unset variable's field fails its type check too
    problems += [
        problem
        for problem in (_from_pydantic(err, data, positions, shown) for err in found)
        if problem.path not in unset
    ]
    problems += [
        _at(f.loc, f.message, f.hint, data, positions, shown) for f in cross_check(sections, failed)
    ]
    if problems:
        raise StackError(sorted(problems, key=lambda p: (p.line, p.column)))
    stack = Stack.model_validate(
        {k: v for k, v in data.items() if k not in plugins}, context=context
    )
    extensions = {k: sections[k] for k in plugins if k in sections}
    return ResolvedStack(file.resolve(), stack, _runtime(stack, env, base_dir), extensions)


def locate(resolved: ResolvedStack, findings: Sequence[Finding], shown: str) -> list[Problem]:
    """Findings made after loading (``validate --deep``), placed in the file like its own.

    Args:
        resolved: The stack the findings are about.
        findings: Problems at field paths of the resolved stack.
        shown: The stack file's path as the user gave it.
    """
    data, positions = parse(resolved.path.read_text(encoding="utf-8"), shown)
    data = _select_environment(data, positions, resolved.runtime.env, shown)
    problems = [_at(f.loc, f.message, f.hint, data, positions, shown) for f in findings]
    return sorted(problems, key=lambda p: (p.line, p.column))


def _select_environment(
    data: dict[str, Any], positions: Positions, env: str, file: str
) -> dict[str, Any]:
    envs = data.get("environments") or {}
    if not isinstance(envs, dict):
        return data  # the section's own validation reports it
    if env not in envs:
        if env == DEFAULT_ENV:
            return data
        line, col = positions.keys.get(("environments",), (1, 1))
        known = sorted({DEFAULT_ENV, *envs})
        close = difflib.get_close_matches(env, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(known)}"
        raise StackError(
            [Problem(file, line, col, "environments", f"unknown environment {env!r}", hint)]
        )
    overlay = envs[env]
    if not isinstance(overlay, dict):
        return data
    merged = copy.deepcopy(data)
    for section in OVERLAY_SECTIONS:
        if isinstance(overlay.get(section), dict):
            src: Loc = ("environments", env, section)
            merged[section] = _merge(
                merged.get(section), overlay[section], (section,), src, positions
            )
    return merged


def _merge(base: Any, over: Any, dst: Loc, src: Loc, positions: Positions) -> Any:
    """Deep-merge ``over`` onto ``base``: mappings merge, lists and scalars replace."""
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            out[key] = _merge(base.get(key), value, (*dst, key), (*src, key), positions)
        return out
    positions.drop(dst)
    positions.move(src, dst)
    return copy.deepcopy(over)


def _interpolate(
    value: Any,
    loc: Loc,
    positions: Positions,
    environ: Mapping[str, str],
    env: str,
    file: str,
    problems: list[Problem],
) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}``; ``$${`` is a literal ``${``.

    Only the base and the selected environment are interpolated: other environments may
    use variables that are not set here.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            here = (*loc, key)
            if (loc == ("environments",) and key != env) or (
                loc == ("environments", env) and key in OVERLAY_SECTIONS
            ):
                out[key] = item  # other environments, and overlays merged into the stack
            else:
                out[key] = _interpolate(item, here, positions, environ, env, file, problems)
        return out
    if isinstance(value, list):
        return [
            _interpolate(v, (*loc, i), positions, environ, env, file, problems)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str) or "$" not in value:
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is not None:
            return default
        problems.append(
            _at(
                loc,
                f"environment variable {name!r} is not set",
                f"export {name}=..., or give a default: ${{{name}:-value}}",
                None,
                positions,
                file,
            )
        )
        return match.group(0)

    return _VAR.sub(substitute, value)


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    info = Stack.model_fields[name]
    annotation: Any = info.annotation
    if info.metadata:
        annotation = Annotated[(annotation, *info.metadata)]
    return TypeAdapter(annotation)


def _validate_sections(
    data: dict[str, Any], context: dict[str, Any], plugins: Mapping[str, type[BaseModel]]
) -> tuple[dict[str, Any], frozenset[str], list[dict[str, Any]]]:
    """Validate each top-level section on its own (a plug-in's with its model); unknown and
    missing keys are errors too."""
    sections: dict[str, Any] = {}
    failed: list[str] = []
    errors: list[dict[str, Any]] = []
    for key in data:
        if key in plugins:
            try:
                sections[key] = plugins[key].model_validate(data[key], context=context)
            except ValidationError as err:
                failed.append(key)
                errors += [{**e, "loc": (key, *e["loc"])} for e in err.errors()]
        elif key not in Stack.model_fields:
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": (key,),
                    "input": data[key],
                    "msg": "Extra inputs are not permitted",
                }
            )
    for name, info in Stack.model_fields.items():
        if name not in data:
            if info.is_required():
                errors.append({"type": "missing", "loc": (name,), "input": data, "msg": ""})
                failed.append(name)
            else:
                sections[name] = info.get_default(call_default_factory=True)
            continue
        try:
            sections[name] = _adapter(name).validate_python(data[name], context=context)
        except ValidationError as err:
            failed.append(name)
            errors += [{**e, "loc": (name, *e["loc"])} for e in err.errors()]
    return sections, frozenset(failed), errors


def _walk(data: Any, loc: Loc) -> tuple[Loc, bool]:
    """The part of ``loc`` present in the YAML, and whether all of it was found.

    Parts that the models add (``checks`` of a suite written as a list, ``0`` of a prep
    step written as a mapping) are skipped.
    """
    found: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if part == "[key]":  # pydantic's marker for a problem with a mapping's key
            break
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif (isinstance(node, list) and isinstance(part, str)) or (
            isinstance(node, dict) and isinstance(part, int)
        ):
            continue
        else:
            return (*found, *loc[i:]), False
        found.append(part)
    return tuple(found), True


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _is_block(data: Any, loc: Loc) -> bool:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return False
    return isinstance(data, dict | list)


def _at(loc: Loc, message: str, hint: str, data: Any, positions: Positions, file: str) -> Problem:
    """A problem at a field path: a scalar's own position, else the line of its key."""
    shown, complete = _walk(data, loc) if data is not None else (loc, True)
    probe = shown if complete else shown[:-1]
    while True:
        value, key = positions.values.get(probe), positions.keys.get(probe)
        position = (key or value) if _is_block(data, probe) else (value or key)
        if position is not None or not probe:
            break
        probe = probe[:-1]
    line, col = position or (1, 1)
    return Problem(file, line, col, _dotted(shown), message, hint)


def _from_pydantic(
    err: dict[str, Any], data: dict[str, Any], positions: Positions, file: str
) -> Problem:
    loc: Loc = tuple(err["loc"])
    shown, _ = _walk(data, loc)
    kind = err["type"]
    allowed = re.findall(r"'([^']*)'", str(err.get("ctx", {}).get("expected", "")))
    if loc and loc[-1] == "[key]":
        key = str(shown[-1])
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else f"use one of: {', '.join(allowed)}"
            if allowed
            else "names use lower-case letters, digits and underscores, e.g. 'features'"
        )
        line, col = positions.keys.get(shown, (1, 1))
        return Problem(file, line, col, _dotted(shown), f"{key!r} is not a valid key here", hint)
    if kind == "extra_forbidden":
        key = str(shown[-1])
        known = _field_names(shown[:-1])
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (
            f"did you mean {close[0]!r}?"
            if close
            else (f"allowed keys here: {', '.join(known)}" if known else "remove it")
        )
        line, col = positions.keys.get(shown, positions.values.get(shown, (1, 1)))
        return Problem(file, line, col, _dotted(shown), f"unknown key {key!r}", hint)
    if kind == "missing":
        key = str(shown[-1])
        _, info = _type_at(loc)
        what = f" ({info.description})" if info and info.description else ""
        problem = _at(shown[:-1], "", "", data, positions, file) if len(shown) > 1 else None
        if problem is None:
            return Problem(
                file, 1, 1, key, f"required key {key!r} is missing", f"add '{key}:'{what}"
            )
        return Problem(
            file,
            problem.line,
            problem.column,
            _dotted(shown),
            f"required key {key!r} is missing",
            f"add '{key}:'{what}",
        )
    _, info = _type_at(loc)
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "string_pattern_mismatch":
        message = "does not have the required form"
    secret = bool(
        info
        and isinstance(info.json_schema_extra, dict)
        and info.json_schema_extra.get("writeOnly")
    )
    got = "***" if secret else _short(err.get("input"))
    if got not in message and not (kind == "value_error" and "got" in message):
        message = f"{message} (got {got})"
    hint = f"expected: {info.description}" if info and info.description else "see `stacks schema`"
    if kind == "literal_error" and isinstance(err.get("input"), str):
        close = difflib.get_close_matches(err["input"], allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else hint
    return _at(shown, message, hint, data, positions, file)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``Optional``; of other unions keep the model or list inside."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if get_origin(annotation) in (Union, UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            lists = [a for a in args if get_origin(a) is list]
            annotation = args[0] if len(args) == 1 else (models or lists or [Any])[0]
            continue
        return annotation


def _type_at(loc: Loc) -> tuple[Any, FieldInfo | None]:
    """The type at a field path and the pydantic field that declares it, if any."""
    annotation: Any = Stack
    info: FieldInfo | None = None
    i = 0
    while i < len(loc):
        annotation, part = _unwrap(annotation), loc[i]
        origin = get_origin(annotation)
        if origin is list:  # a part the YAML lacks (one item written bare) is not consumed
            annotation, info = get_args(annotation)[0], None
            i += isinstance(part, int)
        elif origin is dict:
            annotation, info, i = get_args(annotation)[1], None, i + 1
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if isinstance(part, str):
                info = _named_field(annotation, part)
                if info is None:
                    return None, None
                annotation = info.annotation
            i += 1
        else:
            return None, info
    return _unwrap(annotation), info


def _named_field(model: type[BaseModel], key: str) -> FieldInfo | None:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info
    return None


def _field_names(loc: Loc) -> list[str]:
    """The keys allowed at a field path, for 'did you mean' suggestions."""
    model, _ = _type_at(loc)
    while get_origin(model) in (list, dict):
        model = _unwrap(get_args(model)[-1])
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [info.alias or name for name, info in model.model_fields.items()]
    return []


def _runtime(stack: Stack, env: str, base_dir: Path) -> Runtime:
    spec = stack.environments.get(env) or Environment()
    lake = resolve_local(spec.lake, base_dir)
    local_lake = "://" not in lake
    default_tracking = f"sqlite:///{lake if local_lake else base_dir / '.lake'}/mlflow.db"
    tracking = _absolute_sqlite(spec.tracking_uri, base_dir) or default_tracking
    return Runtime(
        env=env,
        lake=lake,
        tracking_uri=tracking,
        registry_uri=_absolute_sqlite(spec.registry_uri, base_dir) or tracking,
        work_pool=spec.work_pool,
        prefect_api_url=spec.prefect_api_url,
        working_dir=spec.working_dir,
        job_variables=spec.job_variables,
    )


def _absolute_sqlite(uri: str | None, base_dir: Path) -> str | None:
    """``sqlite:///rel/x.db`` made absolute against the stack folder (``sqlite:////abs/x.db``)."""
    if uri is None or not uri.startswith("sqlite:///") or uri.startswith("sqlite:////"):
        return uri
    return f"sqlite:///{(base_dir / uri.removeprefix('sqlite:///')).resolve()}"
