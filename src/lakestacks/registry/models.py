"""The model registry: versions, aliases, tags, and compare-and-set promotion.

Aliases: ``champion`` is what readers load, ``previous`` the champion before it,
``challenger`` a version awaiting approval. Promotion moves ``champion`` first (MLflow
replaces an alias in one write), so a reader never finds the model without a champion.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from lakestacks.errors import UserError
from lakestacks.registry._setup import client
from lakestacks.registry.records import TAG, VersionRecord, VersionStatus, describe_version
from lakestacks.registry.tracking import refuses_nulls

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "TAG",
    "LoadedModel",
    "ModelNotFound",
    "ModelVersionInfo",
    "Move",
    "PromotionRefused",
    "RegisteredModelInfo",
    "alias_version",
    "delete_alias",
    "get_version",
    "input_schema",
    "list_models",
    "load_model",
    "next_version",
    "promote",
    "register",
    "resolve",
    "rollback",
    "set_alias",
    "set_version_tags",
]

CHAMPION, PREVIOUS, CHALLENGER = "champion", "previous", "challenger"


class PromotionRefused(UserError):
    """The champion moved since the evaluation compared against it, or nothing to roll back."""


class ModelNotFound(UserError):
    """No such registered model, version or alias."""


@dataclass(frozen=True)
class ModelVersionInfo:
    """One registered version."""

    name: str
    version: int
    run_id: str | None
    source: str
    created: datetime
    aliases: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    record: VersionRecord = field(default_factory=VersionRecord)  # the tags lakestacks wrote


@dataclass(frozen=True)
class RegisteredModelInfo:
    """A registered model with its versions, newest first."""

    name: str
    aliases: dict[str, int]
    versions: list[ModelVersionInfo]


@dataclass(frozen=True)
class Move:
    """One alias move, as an audit record."""

    model: str
    action: str  # promote | rollback
    champion_before: int | None
    champion_after: int
    previous_after: int | None
    at: datetime


def _info(mv: Any, model_aliases: Mapping[str, int] | None = None) -> ModelVersionInfo:
    # A version's aliases come from its registered model: MLflow's version searches leave
    # ``aliases`` empty, and a single read may too, depending on the store.
    version = int(mv.version)
    if model_aliases is None:
        aliases = list(mv.aliases or [])
    else:
        aliases = sorted(a for a, v in model_aliases.items() if v == version)
    tags = dict(mv.tags or {})
    record = VersionRecord.from_tags(tags)
    if record.status == VersionStatus.CHAMPION and CHAMPION not in aliases:
        # Recorded as champion by a release that did not record demotions: no longer so.
        record = replace(record, status=VersionStatus.DEMOTED)
    return ModelVersionInfo(
        name=mv.name,
        version=version,
        run_id=mv.run_id,
        source=mv.source,
        created=datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC),
        aliases=aliases,
        tags=tags,
        record=record,
    )


def _model_aliases(name: str) -> dict[str, int]:
    return {a: int(v) for a, v in (client().get_registered_model(name).aliases or {}).items()}


def _model_names() -> list[str]:
    return sorted(m.name for m in client().search_registered_models(max_results=1000))


def _no_model(name: str) -> ModelNotFound:
    """The error for an unknown model: the closest names and the models of its schema."""
    names = _model_names()
    schema = name.rsplit(".", 1)[0] + "." if "." in name else ""
    near = [n for n in names if n.startswith(schema)] or names
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    known = f"models: {', '.join(near)}" if near else "there are no registered models yet"
    return ModelNotFound(f"no registered model {name!r}{hint}; {known}")


def _no_alias(name: str, alias: str) -> ModelNotFound:
    aliases = _model_aliases(name)
    close = difflib.get_close_matches(alias, list(aliases), n=1, cutoff=0.6)
    hint = f" (did you mean @{close[0]}?)" if close else ""
    known = (
        "its aliases: " + ", ".join(f"@{a} (v{v})" for a, v in sorted(aliases.items()))
        if aliases
        else "it has no aliases yet"
    )
    return ModelNotFound(f"model {name} has no alias @{alias}{hint}; {known}")


def register(
    model_uri: str,
    name: str,
    tags: Mapping[str, Any] | None = None,
    model_description: str = "",
) -> int:
    """Register ``model_uri`` as a new version of ``name`` (created if new); its number.

    The version's description shows its record (:func:`describe_version`); a non-empty
    ``model_description`` (the stack's ``description``) becomes the registered model's.
    """
    from mlflow.exceptions import MlflowException

    mlflow_client = client()
    text = {k: str(v) for k, v in (tags or {}).items()}
    try:
        model = mlflow_client.get_registered_model(name)
    except MlflowException:
        mlflow_client.create_registered_model(name, description=model_description or None)
    else:
        if model_description and model.description != model_description:
            mlflow_client.update_registered_model(name, model_description)
    mv = mlflow_client.create_model_version(
        name, model_uri, tags=text, description=describe_version(VersionRecord.from_tags(text))
    )
    return int(mv.version)


def next_version(name: str) -> int:
    """The number the next version of ``name`` will most likely get: the latest + 1 (a
    concurrent registration may take it first; check what :func:`register` returns)."""
    found = client().search_model_versions(
        f"name = '{name}'", max_results=1, order_by=["version_number DESC"]
    )
    return int(found[0].version) + 1 if found else 1


def _exists(name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client().get_registered_model(name)
    except MlflowException:
        return False
    return True


def get_version(name: str, version: int) -> ModelVersionInfo:
    """A version's run, source, aliases and tags; ``ModelNotFound`` when there is none."""
    from mlflow.exceptions import MlflowException

    try:
        mv = client().get_model_version(name, str(version))
    except MlflowException:
        if not _exists(name):
            raise _no_model(name) from None
        raise ModelNotFound(
            f"model {name} has no version {version}; `stacks models` lists its versions"
        ) from None
    return _info(mv, _model_aliases(name))


def alias_version(name: str, alias: str) -> int | None:
    """The version ``alias`` points at, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return int(client().get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def set_alias(name: str, alias: str, version: int) -> None:
    """Point ``alias`` at ``version``."""
    client().set_registered_model_alias(name, alias, str(version))


def delete_alias(name: str, alias: str) -> None:
    """Remove ``alias`` if it is set."""
    if alias_version(name, alias) is not None:
        client().delete_registered_model_alias(name, alias)


def set_version_tags(name: str, version: int, tags: Mapping[str, Any]) -> None:
    """Tag a version; dicts and lists are written as JSON."""
    mlflow_client = client()
    for key, value in tags.items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        mlflow_client.set_model_version_tag(name, str(version), key, text)


@contextmanager
def _registry_lock(registry_uri: str) -> Iterator[None]:
    # Compare-and-set needs the check and the move to be one step. A local SQLite registry
    # is serialised with a file lock beside the database; a registry server has no CAS
    # primitive, so there the move is re-checked after it is made (see promote()).
    path = registry_uri.removeprefix("sqlite:///") if registry_uri.startswith("sqlite:///") else ""
    if not path:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)  # a fresh lake: MLflow makes the db
    with open(f"{path}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _registry_uri() -> str:
    import mlflow

    return str(mlflow.get_registry_uri())


def promote(name: str, version: int, expected_champion: int | None) -> Move:
    """Make ``version`` the champion, if the champion is still ``expected_champion``.

    The old champion becomes ``previous``. Raises ``PromotionRefused`` when the champion
    moved since the evaluation compared against it: promoting then would throw away a
    champion nobody compared with. Promoting again a version that this promotion already
    made the champion (a re-run after a crash) finishes the moves and returns the same move.

    Example:
        >>> promote("main.churn.churn_model", 3, expected_champion=2)  # doctest: +SKIP
    """
    with _registry_lock(_registry_uri()):
        current = alias_version(name, CHAMPION)
        # @champion already moved to it: an earlier attempt stopped after the move, perhaps
        # before @previous and @challenger followed; finish those, move nothing else.
        again = current == version and expected_champion != version
        if current != expected_champion and not again:
            raise PromotionRefused(
                f"{name}/{version} was evaluated against "
                f"{_champion_text(expected_champion)}, but the champion is now "
                f"{_champion_text(current)}; re-run the evaluation (`stacks run`) to compare "
                "against the current champion"
            )
        if not again:
            set_alias(name, CHAMPION, version)
            if alias_version(name, CHAMPION) != version:
                raise PromotionRefused(f"another promotion of {name} won the race; re-run")
        before = expected_champion if again else current
        if before is not None and before != version:
            set_alias(name, PREVIOUS, before)
            set_version_tags(name, version, {f"{TAG}previous_champion": str(before)})
        if alias_version(name, CHALLENGER) == version:
            delete_alias(name, CHALLENGER)
        return Move(
            name, "promote", before, version, alias_version(name, PREVIOUS), datetime.now(UTC)
        )


def rollback(name: str) -> Move:
    """Move ``champion`` back to ``previous``; ``previous`` steps back one more promotion.

    Example:
        >>> rollback("main.churn.churn_model").champion_after  # doctest: +SKIP
        2
    """
    with _registry_lock(_registry_uri()):
        current = alias_version(name, CHAMPION)
        target = alias_version(name, PREVIOUS)
        if current is None:
            if not _exists(name):
                raise _no_model(name)
            raise PromotionRefused(f"{name} has no champion to roll back")
        if target is None:
            raise PromotionRefused(
                f"{name} has no previous champion to roll back to (champion is v{current})"
            )
        set_alias(name, CHAMPION, target)
        earlier = get_version(name, target).tags.get(f"{TAG}previous_champion")
        if earlier and earlier.isdigit() and int(earlier) != target:
            set_alias(name, PREVIOUS, int(earlier))
        else:
            delete_alias(name, PREVIOUS)
        set_version_tags(name, current, {f"{TAG}rolled_back_at": datetime.now(UTC).isoformat()})
        return Move(
            name, "rollback", current, target, alias_version(name, PREVIOUS), datetime.now(UTC)
        )


def _champion_text(version: int | None) -> str:
    return f"v{version}" if version is not None else "no champion"


def list_models(prefix: str = "") -> list[RegisteredModelInfo]:
    """Registered models whose names start with ``prefix``, with versions and aliases."""
    mlflow_client = client()
    out = []
    for model in mlflow_client.search_registered_models(max_results=1000):
        if not model.name.startswith(prefix):
            continue
        versions = mlflow_client.search_model_versions(f"name = '{model.name}'", max_results=10000)
        aliases = {a: int(v) for a, v in (model.aliases or {}).items()}
        infos = sorted((_info(v, aliases) for v in versions), key=lambda v: -v.version)
        out.append(RegisteredModelInfo(model.name, aliases, infos))
    return sorted(out, key=lambda m: m.name)


def resolve(name: str, version: int | None = None, alias: str | None = None) -> ModelVersionInfo:
    """The version a ``NAME/3`` or ``NAME@alias`` reference points at."""
    if version is None:
        alias = alias or CHAMPION
        found = alias_version(name, alias)
        if found is None:
            if not _exists(name):
                raise _no_model(name)
            raise _no_alias(name, alias)
        version = found
    return get_version(name, version)


# MLflow column types as Arrow types, for checking requests against a signature.
_ARROW_TYPES = {
    "boolean": "bool_",
    "integer": "int32",
    "long": "int64",
    "float": "float32",
    "double": "float64",
    "string": "string",
    "binary": "binary",
}


@dataclass(frozen=True)
class LoadedModel:
    """A version loaded as an MLflow pyfunc, with the input columns of its signature."""

    name: str
    version: int
    columns: list[str]
    pyfunc: Any
    # The signature's columns as Arrow fields, None without one. A field is nullable when the
    # column may be left out of a request; values may be null either way (models impute them).
    input_schema: Any = None
    task: str | None = None  # its task kind, when lakestacks registered it
    runtime: ClassVar[str] = "pyfunc"  # what scores it (serving also knows "numpy")

    @property
    def refuses_nulls(self) -> bool:
        """Whether a null in a required column of the signature is refused (see
        ``tracking.refuses_nulls``)."""
        return refuses_nulls(self)

    def predict(self, data: Any) -> Any:
        """Score a pandas DataFrame (extra columns are ignored); a DataFrame with
        ``prediction`` (and ``probability`` for a classifier)."""
        missing = [c for c in self.columns if c not in data.columns]
        if missing:
            raise UserError(
                f"{self.name}/{self.version} needs column(s) {', '.join(missing)}, "
                "which the data lacks"
            )
        return self.pyfunc.predict(data[self.columns] if self.columns else data)

    def predict_checked(self, table: Any) -> Any:
        """Score an Arrow table already checked against :attr:`input_schema`.

        Our own models take Arrow directly and skip MLflow's schema enforcement, which costs
        a few milliseconds a call; other pyfunc models get a DataFrame and MLflow's checks.
        """
        python_model: Any = getattr(getattr(self.pyfunc, "_model_impl", None), "python_model", None)
        if getattr(python_model, "predictor", None) is not None:
            return python_model.predict(None, table)
        return self.pyfunc.predict(table.to_pandas())


def input_schema(inputs: list[dict[str, Any]] | None) -> Any:
    """A signature's input columns (MLflow's JSON form: ``name``, ``type``, ``required``)
    as a pyarrow schema; None without names, or with a type only MLflow checks (tensors,
    arrays, objects)."""
    import pyarrow as pa

    if not inputs or any("name" not in spec for spec in inputs):
        return None
    fields = []
    for spec in inputs:
        kind = spec.get("type")
        nullable = not spec.get("required", True)
        if kind == "datetime":
            fields.append(pa.field(spec["name"], pa.timestamp("us"), nullable=nullable))
        elif kind in _ARROW_TYPES:
            fields.append(pa.field(spec["name"], getattr(pa, _ARROW_TYPES[kind])(), nullable))
        else:
            return None
    return pa.schema(fields)


def load_model(name: str, version: int) -> LoadedModel:
    """Load a version as an MLflow pyfunc model (``models:/NAME/VERSION``)."""
    import mlflow.pyfunc

    info = get_version(name, version)  # a clear error for an unknown model or version
    with warnings.catch_warnings(record=True):
        # Unpickling our model class re-runs MLflow's advice on predict's type hints.
        warnings.simplefilter("ignore", UserWarning)
        pyfunc = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    schema = pyfunc.metadata.get_input_schema()
    columns = list(schema.input_names()) if schema is not None else []
    inputs = schema.to_dict() if schema is not None and schema.has_input_names() else None
    return LoadedModel(name, version, columns, pyfunc, input_schema(inputs), info.record.task)
