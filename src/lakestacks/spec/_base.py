"""Shared pieces of the spec models: the strict base class and the annotated field types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from lakestacks.catalog import NAME_PART
from lakestacks.spec._refs import check_ref

__all__ = ["Column", "LocalPath", "Name", "Ref", "SpecModel", "TableName", "resolve_local"]


class SpecModel(BaseModel):
    """Base of every stack section: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Name = Annotated[
    str,
    Field(
        pattern=rf"^{NAME_PART}$",
        max_length=128,
        description="A name part: lower-case letters, digits and underscores (e.g. 'features').",
    ),
]

TableName = Annotated[
    str,
    Field(
        pattern=rf"^{NAME_PART}(\.{NAME_PART}\.{NAME_PART})?$",
        max_length=386,
        description="A table: its short name ('features') or full name ('main.churn.features').",
    ),
]

Column = Annotated[str, Field(min_length=1, max_length=256, description="A column name.")]


def _check_ref(value: str, info: ValidationInfo) -> str:
    context = info.context or {}
    return check_ref(value, context.get("search_path", ()))


Ref = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="A Python object as 'module:name', e.g. 'churn.features:build'; the module is "
        "looked up on the stack file's folder first, then the installed packages.",
    ),
    AfterValidator(_check_ref),
]


def resolve_local(value: str, base_dir: Path | None) -> str:
    """Make a relative local path absolute against the stack file's folder; URIs pass as is."""
    if base_dir is None or "://" in value:
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base_dir / path).resolve())


def _resolve_path(value: str, info: ValidationInfo) -> str:
    context: dict[str, Any] = info.context or {}
    return resolve_local(value, context.get("base_dir"))


LocalPath = Annotated[
    str,
    Field(
        min_length=1,
        description="A file path or URI; a relative path resolves against the stack file's folder.",
    ),
    AfterValidator(_resolve_path),
]
