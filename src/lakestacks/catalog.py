"""Three-level names (``catalog.schema.name``) mapped to Delta table paths and model names.

A stack declares ``catalog: main.churn``; its tables are ``main.churn.<table>`` stored at
``<lake>/main/churn/<table>`` and its models are registered in MLflow as
``main.churn.<model>``. Inside a project the short name and the full name are both accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lakestacks.errors import UserError

__all__ = ["NAME_PART", "Catalog", "CatalogError", "ModelRef", "check_part", "parse_model_ref"]

NAME_PART = r"[a-z_][a-z0-9_]*"
_PART = re.compile(rf"^{NAME_PART}$")


class CatalogError(UserError):
    """A name that does not follow the catalog's naming rules."""


def check_part(part: str, what: str = "name") -> str:
    """Return ``part`` if it is a valid name part, else raise a clear error.

    >>> check_part("churn_model")
    'churn_model'
    """
    if not _PART.match(part):
        raise CatalogError(
            f"{what} {part!r} is not a valid name part: use lower-case letters, digits and "
            "underscores, starting with a letter or underscore (e.g. 'churn_model')"
        )
    return part


@dataclass(frozen=True)
class ModelRef:
    """A registered model, maybe pinned to a version or an alias (``NAME/3``, ``NAME@champion``)."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_model_ref(text: str) -> ModelRef:
    """Split ``NAME``, ``NAME/3`` or ``NAME@alias`` into a :class:`ModelRef`.

    >>> parse_model_ref("main.churn.churn_model@champion")
    ModelRef(name='main.churn.churn_model', version=None, alias='champion')
    """
    if ":" in text:
        name, _, rest = text.partition(":")
        better = f"{name}/{rest}" if rest.isdigit() else f"{name}@{rest}"
        raise CatalogError(
            f"model reference {text!r}: write {better} (a version is NAME/3, an alias "
            "NAME@champion)"
        )
    if "@" in text:
        name, alias = text.split("@", 1)
        return ModelRef(name, alias=check_part(alias, "alias"))
    if "/" in text:
        name, version = text.split("/", 1)
        if not version.isdigit() or int(version) < 1:
            raise CatalogError(f"model version {version!r} in {text!r} must be a whole number >= 1")
        return ModelRef(name, version=int(version))
    return ModelRef(text)


@dataclass(frozen=True)
class Catalog:
    """Resolves a stack's names against its ``catalog.schema`` and lake root.

    Args:
        catalog: The two-level ``catalog.schema`` prefix, e.g. ``main.churn``.
        lake: The lake root: a local absolute path or an object-store URI (``s3://...``).

    >>> Catalog("main.churn", "/data/lake").table_path("features")
    '/data/lake/main/churn/features'
    """

    catalog: str
    lake: str

    def __post_init__(self) -> None:
        parts = self.catalog.split(".")
        if len(parts) != 2:
            raise CatalogError(
                f"catalog {self.catalog!r} must have two parts, 'catalog.schema' "
                "(e.g. 'main.churn')"
            )
        for part in parts:
            check_part(part, "catalog part")

    def qualify(self, name: str) -> str:
        """The full three-level name for a short (``t``) or full (``c.s.t``) name."""
        parts = name.split(".")
        if len(parts) == 1:
            return f"{self.catalog}.{check_part(name)}"
        if len(parts) == 3:
            for part in parts:
                check_part(part)
            return name
        raise CatalogError(
            f"name {name!r} must be a short name ('features') or a full three-level name "
            f"('{self.catalog}.features')"
        )

    def short(self, name: str) -> str:
        """The last part of a name; the short name of a full one in this catalog."""
        return self.qualify(name).rsplit(".", 1)[1]

    @property
    def schema_path(self) -> str:
        """The folder under the lake root that holds this catalog schema's tables."""
        return f"{self.lake.rstrip('/')}/{self.catalog.replace('.', '/')}"

    def table_path(self, name: str) -> str:
        """Where a table's Delta log lives under the lake root."""
        full = self.qualify(name)
        return f"{self.lake.rstrip('/')}/{full.replace('.', '/')}"

    def model_name(self, name: str) -> str:
        """The MLflow registered-model name of a model in this catalog."""
        return self.qualify(name)
