"""What a stage run on its own picks up from the registry: the newest version in a status,
as the training or evaluation result that would have been passed to it."""

from __future__ import annotations

import json

from lakestacks import registry
from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext
from lakestacks.flows.evaluation import EvaluationResult
from lakestacks.flows.training import TrainingResult

__all__ = ["evaluated", "newest", "trained"]


def newest(ctx: RunContext, *statuses: registry.VersionStatus) -> registry.ModelVersionInfo:
    """The newest version of the stack's model whose status is one of ``statuses``."""
    name = ctx.model
    for model in ctx.registry.list_models(name):
        if model.name != name:
            continue
        for info in model.versions:  # newest first
            if info.record.status in statuses:
                return info
    which = " or ".join(statuses)
    raise UserError(f"{name} has no version that is {which}; run `stacks run` first")


def trained(ctx: RunContext, info: registry.ModelVersionInfo) -> TrainingResult:
    """A registered version as the training result that produced it."""
    record = info.record
    run = ctx.registry.run_record(info.run_id or record.run_id or "")
    params = run["params"]
    return TrainingResult(
        model=info.name,
        version=info.version,
        run_id=run["run_id"],
        task=params["task"],
        table=next(iter(record.inputs)),
        inputs=record.inputs,
        rows={},
        epochs=0,
        features=json.loads(params.get("features", "[]")),
    )


def evaluated(info: registry.ModelVersionInfo) -> EvaluationResult:
    """An evaluated version as the evaluation result recorded on it."""
    return EvaluationResult.from_record(info.record, info.name, info.version, info.run_id or "")
