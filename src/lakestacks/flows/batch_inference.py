"""Batch inference: score a table with ``models:/NAME@champion`` into a predictions table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from lakestacks import registry
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_exists, table_info, write_table
from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext

__all__ = ["BatchResult", "batch_inference", "score_table"]


@dataclass
class BatchResult:
    """Which champion scored which table version into which output version."""

    model: str
    version: int
    input: str
    input_version: int
    output: str
    output_version: int
    rows: int
    seconds: float


def score_table(data: pa.Table, model: registry.LoadedModel) -> pa.Table:
    """The input rows with the model's outputs and its name, version and scoring time."""
    frame = data.drop_columns([c for c in (SPLIT_COLUMN,) if c in data.column_names])
    out = model.predict(frame.to_pandas())
    scored = frame
    for column in out.columns:
        scored = scored.append_column(column, pa.array(out[column].to_numpy()))
    now = datetime.now(UTC)
    n = scored.num_rows
    scored = scored.append_column("model_name", pa.array([model.name] * n, pa.string()))
    scored = scored.append_column("model_version", pa.array([model.version] * n, pa.int64()))
    return scored.append_column("scored_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))


def _score(ctx: RunContext) -> BatchResult:
    resolved, reg = ctx.resolved, ctx.registry
    spec, cat = resolved.stack, resolved.catalog
    assert spec.deployment is not None and spec.deployment.batch is not None  # noqa: S101
    batch = spec.deployment.batch
    start = time.perf_counter()
    name = ctx.model
    version = reg.resolve(name, alias=registry.CHAMPION).version
    source = cat.table_path(batch.input)
    if not table_exists(source):
        raise UserError(
            f"batch input {cat.qualify(batch.input)} does not exist; run `stacks run data_prep`"
        )
    input_version = table_info(source).version
    data = read_table(source, version=input_version)
    scored = score_table(data, reg.load_model(name, version))
    out_version = write_table(
        cat.table_path(batch.output),
        scored,
        mode=batch.mode,
        schema="merge",
        metadata={
            "model": f"{name}/{version}",
            "input": f"{cat.qualify(batch.input)}@v{input_version}",
        },
    )
    ctx.audit(
        name,
        version,
        "batch_scored",
        details={
            "input": cat.qualify(batch.input),
            "input_version": input_version,
            "output": cat.qualify(batch.output),
            "output_version": out_version,
            "rows": scored.num_rows,
        },
    )
    return BatchResult(
        name,
        version,
        cat.qualify(batch.input),
        input_version,
        cat.qualify(batch.output),
        out_version,
        scored.num_rows,
        time.perf_counter() - start,
    )


def batch_inference(ctx: RunContext) -> BatchResult:
    """Score ``deployment.batch.input`` with the champion into ``deployment.batch.output``.

    Example:
        >>> batch_inference(RunContext(resolved)).output_version  # doctest: +SKIP
        0
    """
    spec = ctx.resolved.stack
    if spec.deployment is None or spec.deployment.batch is None:
        raise UserError("this stack has no deployment.batch section to score with")
    return ctx.runner.step("batch score", _score, ctx)
