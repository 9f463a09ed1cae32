"""Project names: what `stacks init NAME` accepts, and the package name it gives."""

from __future__ import annotations

import keyword
import re
import sys

from lakestacks.errors import UserError

__all__ = ["package_name"]

_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# The name becomes a folder, a package, a catalog schema, a registered model and Prefect
# deployment names; file systems refuse a path part over 255 bytes, and long names are unkind.
MAX_LENGTH = 64
# Names a project's package would shadow: the libraries a lakestacks project imports.
_TAKEN = frozenset(
    {
        "lakestacks", "flows", "tests", "src", "mlflow", "prefect", "torch", "lightning",
        "pandas", "numpy", "pyarrow", "deltalake", "great_expectations", "pydantic", "yaml",
    }
)  # fmt: skip


def package_name(name: str) -> str:
    """The Python package for project ``name`` (``-`` becomes ``_``), or a UserError saying
    why the name cannot be one and what to use instead.

    Example:
        >>> package_name("churn-model")
        'churn_model'
    """
    fix = _suggest(name)
    instead = f"; use e.g. {fix!r}" if fix else ""
    if not name:
        raise UserError("the project name is empty; give one, e.g. 'churn'")
    if len(name) > MAX_LENGTH:
        raise UserError(
            f"the project name is {len(name)} characters long ({name[:20]}...); a name has at "
            f"most {MAX_LENGTH}, as it names the folder, the package, the catalog and the "
            "deployments"
        )
    if "/" in name or "\\" in name or name.startswith("."):
        raise UserError(
            f"{name!r} is a path, not a name: give the project's name (e.g. {fix or 'churn'!r}) "
            "and where it goes with --dir"
        )
    if any(c.isspace() for c in name):
        raise UserError(f"{name!r} has a space, which a package name cannot hold{instead}")
    if name != name.lower() and _NAME.match(name.lower()):
        raise UserError(f"{name!r} has capitals; project names are lowercase{instead}")
    if not _NAME.match(name):
        raise UserError(
            f"{name!r} is not a project name: use lowercase letters, digits, '-' and '_', "
            f"starting with a letter{instead}"
        )
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise UserError(
            f"{name!r} is a Python keyword, so it cannot name the package; "
            f"use e.g. {package + '_model'!r} or {'my_' + package!r}"
        )
    if package in sys.stdlib_module_names or package in _TAKEN:
        owner = "Python's own" if package in sys.stdlib_module_names else "the"
        raise UserError(
            f"{name!r} would shadow {owner} {package!r} module, which the project imports; "
            f"use e.g. {package + '_model'!r}"
        )
    return package


def _suggest(name: str) -> str:
    """A valid name close to ``name``: its last path part, lowercased, with '_' for the rest."""
    last = re.split(r"[/\\]", name.strip())[-1].strip(".")
    text = re.sub(r"[^a-z0-9_-]+", "_", last.lower()).strip("_-")
    if text and not text[0].isalpha():
        text = "project_" + text
    return text
