"""The training flow: read the pinned train/validation splits, fit, log and register.

The input tables are pinned to their current Delta versions before anything is read, so
training, evaluation and lineage all see the same rows even if data prep runs meanwhile.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from lakestacks import registry
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_exists, table_info, table_schema
from lakestacks.errors import UserError
from lakestacks.flows._records import git_sha, stack_digest
from lakestacks.flows.context import RunContext
from lakestacks.spec import ResolvedStack
from lakestacks.spec.checks import model_short_name, split_table
from lakestacks.tasks import FittedModel, kind_for, task_kind

__all__ = [
    "TrainingResult",
    "model_name",
    "reap_killed_runs",
    "run_name",
    "split_inputs",
    "training",
    "training_inputs",
    "training_table",
]

TAG = registry.TAG


@dataclass
class TrainingResult:
    """The registered version a training run produced, and what it was trained on."""

    model: str
    version: int
    run_id: str
    task: str
    table: str
    inputs: dict[str, int]
    rows: dict[str, int]
    epochs: int
    features: list[str]
    device: str = "cpu"
    history: list[dict[str, float]] = field(default_factory=list)
    digest: str = ""
    git_sha: str | None = None
    reaped: list[str] = field(default_factory=list)  # runs a killed process left RUNNING
    unchanged: bool = False  # the champion, trained on the same data, stack and code


def training_table(resolved: ResolvedStack) -> str:
    """The short name of the split table training reads."""
    spec = resolved.stack
    assert spec.training is not None  # noqa: S101 - the caller checked
    name = spec.training.table or split_table(spec.data)
    if name is None:
        raise UserError("training needs a split table: set data.split or training.table")
    return resolved.catalog.short(name)


def model_name(resolved: ResolvedStack) -> str:
    """The full registry name of the stack's model."""
    spec = resolved.stack
    return resolved.catalog.model_name(model_short_name(spec.name, spec.deployment))


def run_name(resolved: ResolvedStack, version: int) -> str:
    """The MLflow run name of the run that registers ``version``: ``churn v3 (dev)``."""
    return f"{resolved.stack.name} v{version} ({resolved.runtime.env})"


def split_inputs(
    resolved: ResolvedStack,
    table: str,
    version: int,
    columns: list[str],
    splits: dict[str, str],
) -> list[registry.DatasetInput]:
    """The splits of a pinned table that a run read, as MLflow dataset inputs: ``splits``
    maps each split to the run's use of it (``{"train": "training"}``); the schema is the
    ``columns`` read (from the Delta log: no rows are read)."""
    cat = resolved.catalog
    path = cat.table_path(cat.short(table))
    schema = table_schema(path, version)
    wanted = {c for c in columns if c != SPLIT_COLUMN}
    read = pa.schema([f for f in schema if f.name in wanted]) if wanted else schema
    return [
        registry.DatasetInput(cat.qualify(table), path, version, context, split, read)
        for split, context in splits.items()
    ]


def _code_paths(ref: str, base_dir: Path) -> list[str]:
    """The user's model module, shipped with the model so it loads anywhere."""
    module = ref.split(":", 1)[0]
    top = module.split(".", 1)[0]
    spec = importlib.util.find_spec(top)
    origin = Path(spec.origin) if spec and spec.origin else None
    if origin is None or base_dir not in origin.parents:
        return []  # an installed package (e.g. lakestacks itself): its environment has it
    return [str(origin.parent if origin.name == "__init__.py" else origin)]


def fit(
    resolved: ResolvedStack, path: str, version: int, progress: bool
) -> tuple[FittedModel, dict[str, int]]:
    """Read the pinned splits and train the stack's model as its task kind says; the model
    and the rows per split."""
    kind = kind_for(resolved)
    with tempfile.TemporaryDirectory(prefix="lakestacks-ckpt-") as ckpt:
        trained, rows = kind.fit(resolved, path, version, checkpoint_dir=ckpt, progress=progress)
        # The best checkpoint is logged from here, before the folder goes.
        trained.best_checkpoint = _keep(trained.best_checkpoint)
    return trained, rows


def _keep(checkpoint: str | None) -> str | None:
    if checkpoint is None:
        return None
    kept = Path(tempfile.mkdtemp(prefix="lakestacks-best-")) / Path(checkpoint).name
    shutil.move(checkpoint, kept)
    return str(kept)


def log_and_register(
    ctx: RunContext,
    fitted: tuple[FittedModel, dict[str, int]],
    inputs: dict[str, int],
    seconds: float,
) -> TrainingResult:
    """Log the run (params, per-epoch metrics, checkpoint, context) and register the model."""
    resolved, reg = ctx.resolved, ctx.registry
    spec = resolved.stack
    section = spec.training
    assert section is not None  # noqa: S101
    trained, rows = fitted
    runtime, cat = resolved.runtime, resolved.catalog
    name = model_name(resolved)
    digest, sha = stack_digest(resolved), git_sha(resolved.base_dir)
    context = registry.record_tags(
        stack=spec.name, env=runtime.env, stack_digest=digest, inputs=dict(sorted(inputs.items()))
    )
    if sha:
        context |= registry.record_tags(git_sha=sha) | {"mlflow.source.git.commit": sha}
    experiment = reg.ensure_experiment(
        section.experiment or spec.name, reg.artifact_location(runtime.lake)
    )
    table = training_table(resolved)
    expected = reg.next_version(name)
    with reg.start_run(experiment, run_name(resolved, expected), context) as run:
        run.log_params(
            {
                "model": section.model,
                "task": trained.task,
                "target": section.target,
                "device": trained.device,
                "features": trained.feature_columns,
                **{f"param.{k}": v for k, v in section.params.items()},
                **{f"trainer.{k}": v for k, v in section.trainer.model_dump(mode="json").items()},
                **{f"input.{t}": v for t, v in inputs.items()},
            }
        )
        qualified = cat.qualify(table)
        run.log_inputs(
            split_inputs(
                resolved,
                qualified,
                inputs[qualified],
                [*trained.feature_columns, section.target],
                {"train": "training", "validation": "validation"},
            )
        )
        for epoch, metrics in enumerate(trained.history):
            run.log_metrics(metrics, step=epoch)
        run.log_metrics({"train_seconds": seconds, "epochs": float(trained.epochs_run)})
        if trained.best_checkpoint:
            run.log_artifact(trained.best_checkpoint, "checkpoints")
            shutil.rmtree(Path(trained.best_checkpoint).parent, ignore_errors=True)
        for file, content in trained.artifacts().items():
            run.log_dict(content, file)
        example = _input_example(resolved, table, inputs, trained)
        uri = reg.log_predictor(
            run, trained.predictor(), example, _code_paths(section.model, resolved.base_dir)
        )
        policy = spec.approval
        # The approval policy goes on the version: approving it checks this record, not a
        # stack file that may be edited, or another one, by the time someone approves.
        record = registry.record_tags(
            run_id=run.run_id,
            task=trained.task,
            status=registry.VersionStatus.TRAINED,
            approval_mode=policy.mode if policy else "auto",
            approvers=list(policy.approvers) if policy else [],
        )
        version = reg.register(uri, name, context | record, spec.description)
        if version != expected:  # another run registered the version this one expected
            reg.rename_run(run.run_id, run_name(resolved, version))
        run.set_tags({f"{TAG}model_version": f"{name}/{version}"})
    ctx.audit(name, version, "registered", details={"run_id": run.run_id})
    return TrainingResult(
        model=name,
        version=version,
        run_id=run.run_id,
        task=trained.task,
        table=cat.qualify(table),
        inputs=inputs,
        rows=rows,
        epochs=trained.epochs_run,
        features=list(trained.feature_columns),
        device=trained.device,
        history=list(trained.history),
        digest=digest,
        git_sha=sha,
    )


def _input_example(
    resolved: ResolvedStack, table: str, inputs: dict[str, int], trained: FittedModel
) -> Any:
    """The input example the model's task kind makes from the training table's rows."""
    qualified = resolved.catalog.qualify(table)
    rows = read_table(
        resolved.catalog.table_path(table),
        version=inputs[qualified],
        columns=trained.feature_columns,
    )
    return task_kind(trained.task).input_example(rows)


def training_inputs(resolved: ResolvedStack) -> dict[str, int]:
    """The training table and the version training would read now."""
    cat = resolved.catalog
    table = training_table(resolved)
    path = cat.table_path(table)
    if not table_exists(path):
        raise UserError(
            f"training table {cat.qualify(table)} does not exist in lake "
            f"{resolved.runtime.lake}; run `stacks run data_prep` first"
        )
    return {cat.qualify(table): table_info(path).version}


def reap_killed_runs(ctx: RunContext) -> list[str]:
    """Mark KILLED the training runs a killed process left RUNNING; a line for each."""
    spec = ctx.resolved.stack
    assert spec.training is not None  # noqa: S101 - the caller checked
    reg = ctx.registry
    name = spec.training.experiment or spec.name
    return reg.reap_killed_runs(
        reg.ensure_experiment(name, reg.artifact_location(ctx.resolved.runtime.lake))
    )


def training(ctx: RunContext) -> TrainingResult:
    """Train, log and register the stack's model: the training flow's body.

    Example:
        >>> training(RunContext(resolved)).version  # doctest: +SKIP
        1
    """
    resolved, runner = ctx.resolved, ctx.runner
    inputs = training_inputs(resolved)
    path = resolved.catalog.table_path(training_table(resolved))
    version = next(iter(inputs.values()))
    start = time.perf_counter()
    fitted = runner.step("train", fit, resolved, path, version, ctx.progress)
    seconds = time.perf_counter() - start
    return runner.step("register", log_and_register, ctx, fitted, inputs, seconds)
