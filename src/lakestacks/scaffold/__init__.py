"""Project scaffolding: `stacks init` renders a template, `stacks add ci` adds CI workflows,
`stacks update` brings a newer template into a project and keeps the user's edits.

Templates are Copier templates (``templates/``, ``ci/``) plus the ``flows/`` entrypoints; Copier
is imported only here.
"""

from __future__ import annotations

from lakestacks.scaffold.names import package_name
from lakestacks.scaffold.project import (
    InitResult,
    UpdateReport,
    add_ci,
    init_project,
    update_project,
)
from lakestacks.scaffold.resources import CI_FLAVOURS, TEMPLATES

__all__ = [
    "CI_FLAVOURS",
    "TEMPLATES",
    "InitResult",
    "UpdateReport",
    "add_ci",
    "init_project",
    "package_name",
    "update_project",
]
