"""Point MLflow at the environment's stores and keep it quiet and offline."""

from __future__ import annotations

import logging
import os
import warnings
from typing import Any

__all__ = ["artifact_location", "client", "configure"]


class _DropNoise(logging.Filter):
    # MLflow warns on every pyfunc log that cloudpickle can run code on load; we log our own
    # predictor, so the warning is noise on a normal run.
    def filter(self, record: logging.LogRecord) -> bool:
        return "CloudPickle" not in record.getMessage()


def configure(tracking_uri: str, registry_uri: str | None = None) -> None:
    """Use these stores for every MLflow call in this process; telemetry off, INFO lines off."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    # Loading a model with artifacts draws a download bar on stderr, even from a local folder.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    pyfunc_log = logging.getLogger("mlflow.pyfunc")
    if not any(isinstance(f, _DropNoise) for f in pyfunc_log.filters):
        pyfunc_log.addFilter(_DropNoise())
    for module in ("mlflow", "sqlalchemy"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    warnings.filterwarnings("ignore", message=".*Operation with range is deprecated.*")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(registry_uri or tracking_uri)


def client() -> Any:
    """An ``MlflowClient`` on the configured stores."""
    from mlflow import MlflowClient

    return MlflowClient()


def artifact_location(tracking_uri: str, lake: str) -> str | None:
    """Where a new experiment keeps artifacts: under the lake on embedded defaults.

    A tracking server decides for itself (its ``--artifacts-destination``); a SQLite or file
    store would otherwise write to ``./mlruns`` in whatever folder the command ran from.
    """
    if tracking_uri.startswith(("sqlite:", "file:")) or "://" not in tracking_uri:
        return f"{lake.rstrip('/')}/_mlflow/artifacts"
    return None
