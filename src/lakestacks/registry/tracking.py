"""MLflow tracking: experiments, runs, params and metrics, and the pyfunc model."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from lakestacks.registry._setup import client
from lakestacks.registry.records import TAG

__all__ = [
    "PORTABLE",
    "DatasetInput",
    "Predictor",
    "RunHandle",
    "ensure_experiment",
    "log_predictor",
    "nulls_refused",
    "reap_killed_runs",
    "refuses_nulls",
    "rename_run",
    "requirements",
    "run_record",
    "start_run",
]

# The pyfunc artifact holding a predictor's ``save_portable`` bundle, which serving scores
# without torch or MLflow (``training.portable``).
PORTABLE = "lakestacks_portable"
# Logged with the model so MLflow does not spend ~10 s inferring them.
_REQUIREMENTS = ("lakestacks", "torch", "lightning", "numpy", "pandas", "pyarrow", "mlflow")


class Predictor(Protocol):
    """What the pyfunc wraps: a trained model with its encoders (``training.TabularPredictor``).

    A predictor may also have ``optional_inputs``, the input columns it imputes by design
    (they had missing values in train): :func:`log_predictor` marks exactly those optional
    in the signature, and the model then refuses a null in any other column. And it may have
    ``save_portable(folder) -> bool``, which writes a bundle that scores like ``predict``
    without torch (logged as the :data:`PORTABLE` artifact), or returns False.
    """

    task: str

    def predict(self, data: Any) -> Any:
        """P(y=1) for a classifier, the value for a regressor, one per row."""
        ...


def requirements() -> list[str]:
    """The packages a loaded model needs, pinned to the versions it was logged with.

    A local version label (PEP 440 ``+...``, e.g. torch's ``2.13.0+cpu``) is dropped: no
    package index serves it, so ``torch==2.13.0+cpu`` could never be installed from PyPI.

    Example:
        >>> requirements()[:2]  # doctest: +SKIP
        ['lakestacks==0.1.0', 'torch==2.13.0']
    """
    pins = []
    for name in _REQUIREMENTS:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pins.append(name)
            continue
        pins.append(f"{name}=={version.split('+', 1)[0]}")
    return pins


def ensure_experiment(name: str, artifact_location: str | None) -> str:
    """The id of experiment ``name``, created (with its artifact location) when missing."""
    mlflow_client = client()
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(mlflow_client.create_experiment(name, artifact_location=artifact_location))


@dataclass(frozen=True)
class DatasetInput:
    """A Delta table a run read, pinned to a version: logged as an MLflow dataset input.

    Attributes:
        name: Its catalog name, e.g. ``main.churn.customers``.
        path: Where the table lies (the dataset's source).
        version: The Delta version read.
        context: What the run used it for: ``training``, ``validation`` or ``test``.
        split: The rows read, when a split of the table (``train``, ``validation``, ``test``).
        schema: The columns read, as a pyarrow schema; None leaves the schema out.
    """

    name: str
    path: str
    version: int
    context: str
    split: str | None = None
    schema: Any = None


# Arrow type names as MLflow column types (others are logged as strings of their type).
_MLFLOW_TYPES = {
    "bool": "boolean",
    "int8": "integer",
    "int16": "integer",
    "int32": "integer",
    "uint8": "integer",
    "uint16": "integer",
    "int64": "long",
    "uint32": "long",
    "float": "float",
    "halffloat": "float",
    "double": "double",
    "string": "string",
    "large_string": "string",
    "string_view": "string",
    "binary": "binary",
    "large_binary": "binary",
}


def _mlflow_schema(schema: Any) -> Any:
    from mlflow.types import ColSpec, DataType, Schema

    if schema is None:
        return None
    columns: list[Any] = []
    for arrow_field in schema:
        kind = str(arrow_field.type)
        name = "datetime" if kind.startswith(("timestamp", "date")) else _MLFLOW_TYPES.get(kind)
        columns.append(
            ColSpec(DataType[name or "string"], arrow_field.name, required=not arrow_field.nullable)
        )
    return Schema(columns)


@functools.cache
def _delta_source_class() -> type:
    from mlflow.data.delta_dataset_source import DeltaDatasetSource

    class PinnedDeltaSource(DeltaDatasetSource):
        """MLflow's Delta source, with version 0 recorded too (MLflow leaves a falsy
        version out of the source, and a table's first version is 0)."""

        def to_dict(self) -> dict[Any, Any]:
            return {**super().to_dict(), "delta_table_version": self.delta_table_version}

    return PinnedDeltaSource


def _dataset_input(read: DatasetInput) -> Any:
    import hashlib

    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import DatasetInput as MlflowDatasetInput
    from mlflow.entities import InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    # One dataset per table, version and split: MLflow keeps one input per dataset and run,
    # so train, validation and test rows of one table need digests of their own.
    pinned = f"{read.name}\0{read.path}\0{read.version}\0{read.split or ''}"
    dataset = MetaDataset(  # type: ignore[abstract]  # profile is optional; MLflow's own do so
        _delta_source_class()(path=read.path, delta_table_version=read.version),
        name=read.name,
        digest=hashlib.sha256(pinned.encode()).hexdigest()[:10],
        schema=_mlflow_schema(read.schema),
    )
    tags = [
        InputTag(MLFLOW_DATASET_CONTEXT, read.context),
        InputTag(f"{TAG}table_version", str(read.version)),
    ]
    if read.split:
        tags.append(InputTag(f"{TAG}split", read.split))
    return MlflowDatasetInput(dataset._to_mlflow_entity(), tags)


@dataclass
class RunHandle:
    """An open MLflow run."""

    run_id: str
    experiment_id: str

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params; nested values are written as JSON."""
        import mlflow

        flat = {
            k: v if isinstance(v, str | int | float | bool) else json.dumps(v, default=str)
            for k, v in params.items()
        }
        mlflow.log_params(flat, run_id=self.run_id)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log metrics, at a step (the epoch) when given."""
        import mlflow

        mlflow.log_metrics(dict(metrics), step=step, run_id=self.run_id)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Tag the run; values are written as text."""
        mlflow_client = client()
        for key, value in tags.items():
            mlflow_client.set_tag(self.run_id, key, str(value))

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        """Copy a local file into the run's artifacts."""
        client().log_artifact(self.run_id, local_path, artifact_path)

    def log_dict(self, data: Any, file: str) -> None:
        """Write ``data`` as JSON into the run's artifacts."""
        client().log_dict(self.run_id, data, file)

    def log_text(self, text: str, file: str) -> None:
        """Write ``text`` (an SVG chart, a report) into the run's artifacts."""
        client().log_text(self.run_id, text, file)

    def log_inputs(self, inputs: Sequence[DatasetInput]) -> None:
        """Record the Delta tables the run read, with their versions, as MLflow datasets.

        Only metadata is logged (name, source path and version, schema): no rows are read.
        """
        if not inputs:
            return
        from mlflow.exceptions import MlflowException

        datasets = [_dataset_input(i) for i in inputs]
        try:
            client().log_inputs(self.run_id, datasets=datasets)
        except MlflowException as err:
            # Two runs logging the same dataset at once: MLflow's insert-if-absent races and
            # one gets a unique-constraint error. The dataset exists now: link it again.
            text = str(err).lower()
            if "dataset" not in text or not ("unique" in text or "duplicate key" in text):
                raise
            client().log_inputs(self.run_id, datasets=datasets)


# Which process holds a run open: a run left RUNNING by a process that is gone was killed.
_PID, _HOST = "lakestacks.pid", "lakestacks.host"


def reap_killed_runs(experiment_id: str) -> list[str]:
    """Mark ``KILLED`` the runs of the experiment left ``RUNNING`` by a process of this host
    that no longer exists (``kill -9``, a lost machine's power); one line for each.

    Runs opened on another host are left alone: whether their process lives is not known here.
    """
    host = socket.gethostname()
    mlflow_client = client()
    lines = []
    for run in mlflow_client.search_runs(
        [experiment_id], filter_string="attributes.status = 'RUNNING'"
    ):
        tags = run.data.tags
        pid = tags.get(_PID, "")
        if tags.get(_HOST) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        mlflow_client.set_terminated(run.info.run_id, "KILLED")
        name = tags.get("mlflow.runName", run.info.run_id)
        lines.append(
            f"MLflow run {name!r} ({run.info.run_id}) was left RUNNING by process {pid}, which "
            "is gone: marked KILLED"
        )
    return lines


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@contextmanager
def start_run(experiment_id: str, name: str, tags: Mapping[str, Any]) -> Iterator[RunHandle]:
    """Open a run, tagged with this process and host; it ends FINISHED, or FAILED when the
    block raises (a process killed meanwhile leaves it RUNNING: see ``reap_killed_runs``)."""
    import mlflow

    owner = {_PID: str(os.getpid()), _HOST: socket.gethostname()}
    run = mlflow.start_run(
        experiment_id=experiment_id,
        run_name=name,
        tags={**{k: str(v) for k, v in tags.items()}, **owner},
    )
    try:
        yield RunHandle(run.info.run_id, experiment_id)
    except BaseException:
        mlflow.end_run("FAILED")
        raise
    mlflow.end_run("FINISHED")


def rename_run(run_id: str, name: str) -> None:
    """Give a run a new name (what MLflow's UI lists it by)."""
    client().set_tag(run_id, "mlflow.runName", name)


@functools.cache
def _pyfunc_class() -> type:
    import mlflow.pyfunc
    import pandas as pd

    # MLflow advises type hints on predict when the class is made; ours has a signature.
    # MLflow re-enables that warning inside ("once"), so it is recorded and dropped.
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore", UserWarning)

        class PredictorModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
            """Our predictor as an MLflow pyfunc: a DataFrame in, ``prediction`` (and
            ``probability`` for a classifier) out."""

            def __init__(self, predictor: Predictor) -> None:
                self.predictor = predictor

            # No annotations: MLflow reads predict's type hints as a schema of its own.
            def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
                scores = self.predictor.predict(model_input)
                if self.predictor.task == "classification":
                    return pd.DataFrame(
                        {
                            "prediction": (scores >= 0.5).astype("int64"),
                            "probability": scores.astype("float64"),
                        }
                    )
                return pd.DataFrame({"prediction": scores.astype("float64")})

    return PredictorModel


# Recorded in the MLmodel of a model whose signature says which columns may be null: a
# required column refuses nulls (serving answers 400, batch inference leaves the row
# unscored). Models without it (logged before, or not by lakestacks) accept nulls anywhere.
_NULLS = "lakestacks_nulls"
_REFUSED_WHERE_REQUIRED = "refused_where_required"


def _signature(input_example: Any, output: Any, optional: frozenset[str] | None) -> Any:
    """MLflow's signature of the example, with ``optional`` exactly the optional columns
    (MLflow alone would mark those with a null among the example's few rows)."""
    from mlflow.models import infer_signature
    from mlflow.types import ColSpec, Schema

    signature = infer_signature(input_example, output)
    if optional is None or signature.inputs is None:
        return signature
    signature.inputs = Schema(
        [
            ColSpec(spec.type, spec.name, required=spec.name not in optional)
            for spec in signature.inputs.inputs
        ]
    )
    return signature


def refuses_nulls(model: Any) -> bool:
    """Whether a loaded model (``registry.LoadedModel``) refuses nulls in the required
    columns of its signature: true for models :func:`log_predictor` logged with the columns
    its predictor imputes; older and foreign models impute (or take) nulls anywhere."""
    return nulls_refused(getattr(getattr(model.pyfunc, "metadata", None), "metadata", None))


def nulls_refused(metadata: Mapping[str, Any] | None) -> bool:
    """:func:`refuses_nulls` from the ``metadata`` of a model's ``MLmodel`` file."""
    return bool((metadata or {}).get(_NULLS) == _REFUSED_WHERE_REQUIRED)


def log_predictor(
    run: RunHandle,
    predictor: Predictor,
    input_example: Any,
    code_paths: Sequence[str] = (),
) -> str:
    """Log ``predictor`` as a pyfunc model with a signature and an input example.

    Returns the model URI to register. ``code_paths`` carries the user's model module so the
    model loads where that module is not installed. When the predictor knows its
    ``optional_inputs``, the signature marks exactly those optional and the others required,
    and the model is recorded as refusing nulls in its required columns.
    """
    import mlflow
    import mlflow.pyfunc

    model = _pyfunc_class()(predictor)
    output = model.predict(None, input_example)
    optional: frozenset[str] | None = getattr(predictor, "optional_inputs", None)
    active = mlflow.active_run()
    if active is None or active.info.run_id != run.run_id:
        raise RuntimeError("log_predictor needs its run to be the active one")
    with warnings.catch_warnings(record=True), tempfile.TemporaryDirectory() as tmp:
        # MLflow's hints (type hints on predict, integer columns) are advice for hand-written
        # models; ours has an explicit signature, typed for nulls by the caller.
        warnings.simplefilter("ignore", UserWarning)
        bundle = os.path.join(tmp, PORTABLE)
        save = getattr(predictor, "save_portable", None)
        portable = bool(save(bundle)) if callable(save) else False
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=model,
            signature=_signature(input_example, output, optional),
            input_example=input_example,
            pip_requirements=requirements(),
            code_paths=list(code_paths) or None,
            metadata=None if optional is None else {_NULLS: _REFUSED_WHERE_REQUIRED},
            artifacts={PORTABLE: bundle} if portable else None,
        )
    return str(info.model_uri)


def run_record(run_id: str) -> dict[str, Any]:
    """A run's params, latest metrics and tags, for lineage."""
    run = client().get_run(run_id)
    return {
        "run_id": run_id,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
    }
