"""Read aliases and model versions straight from the embedded SQLite registry, without MLflow.

``stacks serve`` resolves an alias at start and every poll. Through MLflow's client that
costs the import of MLflow (seconds and ~170 MB) in a process that otherwise needs numpy,
Arrow and an HTTP server. On the embedded defaults the registry is a SQLite file and the
artifacts are local folders, so the two lookups serving needs are two read-only queries.

Only what is certain is answered: a registry that is not a local SQLite file, a schema
without the columns read here, a named MLflow workspace, the ``latest`` pseudo-alias, or
artifacts that are not a local folder make :func:`open_reader` return None or a lookup
return :data:`UNKNOWN`, and the caller asks MLflow. Nothing is ever written.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlparse

import yaml

__all__ = ["UNKNOWN", "ModelFiles", "SqliteReader", "open_reader"]

UNKNOWN: Final = -1  # a lookup this reader cannot answer for certain: ask MLflow
_DELETED = "Deleted_Internal"  # MLflow's stage for a deleted version it keeps a row of
_TABLES = {
    "model_versions": {"name", "version", "source", "storage_location", "current_stage"},
    "registered_model_aliases": {"name", "alias", "version"},
}


@dataclass(frozen=True)
class ModelFiles:
    """A version's model folder and what its ``MLmodel`` file says.

    Attributes:
        folder: The model's local folder (where ``MLmodel`` lies).
        inputs: The signature's input columns (``name``, ``type``, ``required``), or None.
        metadata: The ``metadata`` mapping of ``MLmodel``.
        artifacts: The pyfunc's artifacts, name to local path.
    """

    folder: Path
    inputs: list[dict[str, Any]] | None
    metadata: dict[str, Any]
    artifacts: dict[str, Path]


class SqliteReader:
    """Read-only lookups on one SQLite registry file."""

    def __init__(self, path: Path, workspaces: frozenset[str] = frozenset()) -> None:
        self.path = path
        self._workspaces = workspaces  # the tables with MLflow's workspace column

    def _query(self, table: str, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        if table in self._workspaces:
            sql += " AND workspace = 'default'"
        # A new read-only connection per lookup: a poll every few seconds costs ~0.1 ms and
        # always sees MLflow's latest commit.
        with sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5) as db:
            return db.execute(sql, args).fetchall()

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, None when unset, :data:`UNKNOWN` for ``latest``."""
        if alias.lower() == "latest":
            return UNKNOWN
        rows = self._query(
            "registered_model_aliases",
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (name, alias),
        )
        return int(rows[0][0]) if rows else None

    def model_files(self, name: str, version: int) -> ModelFiles | None:
        """The version's local model folder and ``MLmodel``; None where it is not a local
        folder this reader can read (ask MLflow: it also says what is wrong)."""
        rows = self._query(
            "model_versions",
            "SELECT storage_location, source FROM model_versions "
            "WHERE name = ? AND version = ? AND current_stage != ?",
            (name, version, _DELETED),
        )
        if not rows:
            return None
        folder = _local_folder(rows[0][0] or rows[0][1] or "")
        if folder is None:
            return None
        try:
            mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
        except (OSError, yaml.YAMLError):
            return None
        return _files(folder, mlmodel) if isinstance(mlmodel, dict) else None


def _local_folder(location: str) -> Path | None:
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and os.path.isabs(location):
        return Path(location)
    return None  # models:/, s3://, mlflow-artifacts:/, dbfs:/ ...


def _files(folder: Path, mlmodel: dict[str, Any]) -> ModelFiles | None:
    try:
        signature = mlmodel.get("signature") or {}
        inputs = json.loads(signature["inputs"]) if signature.get("inputs") else None
        pyfunc = (mlmodel.get("flavors") or {}).get("python_function") or {}
        artifacts = {
            str(name): folder / str(entry["path"])
            for name, entry in (pyfunc.get("artifacts") or {}).items()
        }
    except (KeyError, TypeError, ValueError):
        return None
    return ModelFiles(folder, inputs, dict(mlmodel.get("metadata") or {}), artifacts)


def open_reader(registry_uri: str) -> SqliteReader | None:
    """A reader for ``sqlite:///path`` registries whose schema it knows; None otherwise."""
    if not registry_uri.startswith("sqlite:///"):
        return None
    if os.environ.get("MLFLOW_WORKSPACE", "default") != "default":
        return None
    # sqlite:///rel.db is relative to the working folder, sqlite:////abs.db absolute.
    path = Path(unquote(registry_uri.removeprefix("sqlite:///").split("?", 1)[0])).absolute()
    if not path.is_file():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            columns = {
                table: {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for table in _TABLES
            }
    except sqlite3.Error:
        return None
    if any(not need <= columns[table] for table, need in _TABLES.items()):
        return None
    return SqliteReader(path, frozenset(t for t, have in columns.items() if "workspace" in have))
