"""The registry of one environment, bound once per command.

Flows reach MLflow through one :class:`Registry` object that a run context builds, instead
of pointing MLflow at the stores before every call.
"""

from __future__ import annotations

from lakestacks.registry import models, records, tracking
from lakestacks.registry._setup import artifact_location, configure

__all__ = ["Registry"]


class Registry:
    """MLflow's tracking and registry stores for one environment.

    Example:
        >>> reg = Registry("sqlite:///.lake/mlflow.db")  # doctest: +SKIP
        >>> reg.alias_version("main.churn.churn_model", "champion")  # doctest: +SKIP
        1
    """

    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        configure(tracking_uri, registry_uri)
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri

    def artifact_location(self, lake: str) -> str | None:
        """Where a new experiment keeps its artifacts (see ``artifact_location``)."""
        return artifact_location(self.tracking_uri, lake)

    alias_version = staticmethod(models.alias_version)
    delete_alias = staticmethod(models.delete_alias)
    get_version = staticmethod(models.get_version)
    list_models = staticmethod(models.list_models)
    load_model = staticmethod(models.load_model)
    next_version = staticmethod(models.next_version)
    promote = staticmethod(models.promote)
    register = staticmethod(models.register)
    resolve = staticmethod(models.resolve)
    rollback = staticmethod(models.rollback)
    set_alias = staticmethod(models.set_alias)
    read_record = staticmethod(records.read_record)
    write_record = staticmethod(records.write_record)
    ensure_experiment = staticmethod(tracking.ensure_experiment)
    log_predictor = staticmethod(tracking.log_predictor)
    reap_killed_runs = staticmethod(tracking.reap_killed_runs)
    rename_run = staticmethod(tracking.rename_run)
    run_record = staticmethod(tracking.run_record)
    start_run = staticmethod(tracking.start_run)
