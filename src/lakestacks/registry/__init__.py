"""MLflow, behind one layer: tracking, the pyfunc model, registry versions and aliases.

Nothing else in lakestacks imports mlflow (an import-linter contract), so the rest of the
code talks in runs, versions and aliases.
"""

from lakestacks.registry._setup import artifact_location, configure
from lakestacks.registry.bound import Registry
from lakestacks.registry.models import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    TAG,
    LoadedModel,
    ModelNotFound,
    ModelVersionInfo,
    Move,
    PromotionRefused,
    RegisteredModelInfo,
    alias_version,
    delete_alias,
    get_version,
    list_models,
    load_model,
    promote,
    register,
    resolve,
    rollback,
    set_alias,
    set_version_tags,
)
from lakestacks.registry.records import (
    RecordChanges,
    VersionRecord,
    VersionStatus,
    read_record,
    record_tags,
    write_record,
)
from lakestacks.registry.tracking import (
    Predictor,
    RunHandle,
    ensure_experiment,
    log_predictor,
    requirements,
    run_record,
    start_run,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "TAG",
    "LoadedModel",
    "ModelNotFound",
    "ModelVersionInfo",
    "Move",
    "Predictor",
    "PromotionRefused",
    "RecordChanges",
    "RegisteredModelInfo",
    "Registry",
    "RunHandle",
    "VersionRecord",
    "VersionStatus",
    "alias_version",
    "artifact_location",
    "configure",
    "delete_alias",
    "ensure_experiment",
    "get_version",
    "list_models",
    "load_model",
    "log_predictor",
    "promote",
    "read_record",
    "record_tags",
    "register",
    "requirements",
    "resolve",
    "rollback",
    "run_record",
    "set_alias",
    "set_version_tags",
    "start_run",
    "write_record",
]
