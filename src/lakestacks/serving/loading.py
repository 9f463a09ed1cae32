"""Find and load the versions a server's arms serve, on the light path where there is one.

A built-in tabular model logged by lakestacks carries a numpy bundle
(``training.portable``); on the embedded defaults its registry is a SQLite file that
``registry.sqlite_reader`` reads directly. Serving such a model then imports neither
torch nor MLflow: ready in well under a second, in a third of the memory. Anything else
(a user's model class, a tracking server, a bundle that fails to load) goes through MLflow
as before, which is configured on first need only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy.typing as npt
import pyarrow as pa

from lakestacks import registry
from lakestacks.registry.sqlite_reader import UNKNOWN, ModelFiles, open_reader
from lakestacks.training.portable import PortablePredictor

__all__ = ["Models", "PortableModel", "Servable"]

log = logging.getLogger("lakestacks.serving")


@dataclass(frozen=True)
class PortableModel:
    """A version scored by its numpy bundle; answers as its pyfunc would."""

    name: str
    version: int
    input_schema: pa.Schema | None
    task: str
    refuses_nulls: bool
    predictor: PortablePredictor
    runtime: ClassVar[str] = "numpy"

    def predict_checked(self, table: pa.Table) -> dict[str, npt.NDArray[Any]]:
        """Score a table already checked against :attr:`input_schema`."""
        return self.predictor.outputs(table)


Servable = registry.LoadedModel | PortableModel


class Models:
    """Resolves aliases and loads versions: directly where the registry and the model allow,
    through MLflow otherwise."""

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self._uris = (tracking_uri, registry_uri)
        self._reader = open_reader(registry_uri or tracking_uri)
        self._mlflow_ready = False

    def _mlflow(self) -> None:
        if not self._mlflow_ready:
            registry.configure(*self._uris)
            self._mlflow_ready = True

    def alias_version(self, name: str, alias: str) -> int | None:
        """The version ``alias`` points at, or None."""
        if self._reader is not None:
            found = self._reader.alias_version(name, alias)
            if found != UNKNOWN:
                return found
        self._mlflow()
        return registry.alias_version(name, alias)

    def explain_missing(self, name: str, alias: str | None) -> None:
        """Raise the registry's own error for a model or alias that does not resolve.

        Raises:
            UserError: no such model, or no such alias on it.
        """
        self._mlflow()
        registry.resolve(name, alias=alias)

    def load(self, name: str, version: int) -> Servable:
        """The version, by its numpy bundle when it has one that loads, else its pyfunc.

        Raises:
            UserError: no such model or version.
        """
        files = self._reader.model_files(name, version) if self._reader is not None else None
        if files is not None and registry.PORTABLE in files.artifacts:
            try:
                return _portable(name, version, files)
            except (OSError, ValueError, KeyError) as err:
                log.warning(
                    "%s/%s: its numpy bundle did not load (%s); using MLflow", name, version, err
                )
        self._mlflow()
        return registry.load_model(name, version)


def _portable(name: str, version: int, files: ModelFiles) -> PortableModel:
    predictor = PortablePredictor.load(files.artifacts[registry.PORTABLE])
    schema = registry.input_schema(files.inputs)
    missing = set(predictor.feature_columns) - set(schema.names if schema is not None else ())
    if schema is None or missing:
        raise ValueError(f"the signature lacks the bundle's columns {sorted(missing)}")
    return PortableModel(
        name,
        version,
        schema,
        predictor.task,
        registry.nulls_refused(files.metadata),
        predictor,
    )
