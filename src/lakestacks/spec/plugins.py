"""The stack sections of installed stage plug-ins, for the loader to validate.

A plug-in stage (see ``lakestacks.flows.stage``) may bring a section of its own. Only
installed packages' entry points are loaded here, never the project's modules, and
lakestacks' own stages are skipped: their sections are the stack's own fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points

from pydantic import BaseModel
from pydantic_core import PydanticCustomError

from lakestacks.errors import UserError

__all__ = [
    "ENTRY_POINT_GROUP",
    "TASKS_GROUP",
    "one_of",
    "plugin_sections",
    "stage_names",
    "task_names",
]

ENTRY_POINT_GROUP = "lakestacks.stages"
TASKS_GROUP = "lakestacks.tasks"


def stage_names() -> list[str]:
    """The names of every registered stage, read from the entry points without loading them."""
    return sorted({point.name for point in entry_points(group=ENTRY_POINT_GROUP)})


def one_of(value: str, known: Sequence[str]) -> str:
    """``value`` if it is one of the ``known`` (registered) names.

    Raises:
        PydanticCustomError: shaped as a literal error, so the loader suggests the closest.
    """
    if value not in known:
        raise PydanticCustomError(
            "literal_error",
            "Input should be {expected}",
            {"expected": ", ".join(repr(k) for k in known)},
        )
    return value


def task_names() -> list[str]:
    """The names of every registered task kind (``training.task``), without loading them."""
    return sorted({point.name for point in entry_points(group=TASKS_GROUP)})


def plugin_sections() -> dict[str, type[BaseModel]]:
    """The stack sections that installed plug-in stages declare, with their models.

    Raises:
        UserError: a plug-in cannot be loaded.
    """
    sections: dict[str, type[BaseModel]] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.module.split(".", 1)[0] == "lakestacks":
            continue
        try:
            loaded = point.load()
        except Exception as exc:
            raise UserError(
                f"stage plug-in {point.name!r} ({point.value}) cannot be loaded: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        section = getattr(loaded, "section", None)
        model = getattr(loaded, "section_model", None)
        if isinstance(section, str) and isinstance(model, type) and issubclass(model, BaseModel):
            sections[section] = model
    return sections
