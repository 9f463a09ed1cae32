"""Where the project templates, CI templates and flow entrypoints are.

They live in ``templates/``, ``ci/`` and ``flows/`` at the top of a checkout, and inside the
wheel under ``lakestacks/_resources/`` (see ``[tool.hatch.build.targets.wheel.force-include]``
in pyproject.toml). ``STACKS_RESOURCES`` names another folder holding the three, for
template authors trying a change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CI_FLAVOURS", "TEMPLATES", "Template", "resources_root"]

ENV = "STACKS_RESOURCES"


@dataclass(frozen=True)
class Template:
    """A project template: its folder under ``templates/`` and the answers it fixes."""

    folder: str
    fixed: tuple[tuple[str, str], ...]


TEMPLATES = {
    "tabular-classifier": Template("tabular", (("task", "classification"),)),
    "regression": Template("tabular", (("task", "regression"),)),
}
CI_FLAVOURS = ("github", "gitlab")


def resources_root() -> Path:
    """The folder holding ``templates/``, ``ci/`` and ``flows/``."""
    override = os.environ.get(ENV)
    if override:
        return Path(override).resolve()
    here = Path(__file__).resolve()
    packaged = here.parents[1] / "_resources"
    if packaged.is_dir():
        return packaged
    return here.parents[3]  # a checkout: src/lakestacks/scaffold/ -> the repository
