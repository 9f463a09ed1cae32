"""Batch inference: score a table with ``models:/NAME@champion`` into a predictions table.

Missing values follow the model's signature, as serving does. A missing value (null, NaN or
an infinite number: what the encoder imputes) in an optional column, one with missing values
in the train split, is imputed as in training and counted. A row with a null in a required
column is not scored: it is written with null outputs and the reason in ``refused``, and
counted. Models logged before signatures said so impute every column (still counted).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lakestacks import registry
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_exists, table_info, write_table
from lakestacks.errors import UserError
from lakestacks.flows.context import RunContext
from lakestacks.training.features import missing_mask

__all__ = ["BatchResult", "Scoring", "batch_inference", "score_table"]

REFUSED = "refused"  # the output column saying why a row was not scored (null when it was)


@dataclass
class BatchResult:
    """Which champion scored which table version into which output version.

    Attributes:
        rows: Rows written (every input row).
        scored: Rows with outputs.
        refused: Rows left unscored: a null in a required column.
        imputed: Rows scored with a missing value imputed in an optional column.
        imputed_values: Per column, the values imputed (in scored rows).
        refused_values: Per required column, the rows refused for a null in it.
    """

    model: str
    version: int
    input: str
    input_version: int
    output: str
    output_version: int
    rows: int
    seconds: float
    scored: int = 0
    refused: int = 0
    imputed: int = 0
    imputed_values: dict[str, int] = field(default_factory=dict)
    refused_values: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Scoring:
    """A scored table and what happened to its missing values (see :class:`BatchResult`)."""

    table: pa.Table
    scored: int
    refused: int
    imputed: int
    imputed_values: dict[str, int]
    refused_values: dict[str, int]


def score_table(data: pa.Table, model: registry.LoadedModel) -> Scoring:
    """The input rows with the model's outputs, ``refused``, and the model's name, version
    and scoring time; rows with a null in a required column get null outputs instead."""
    frame = data.drop_columns([c for c in (SPLIT_COLUMN,) if c in data.column_names])
    n = frame.num_rows
    schema = model.input_schema
    strict = schema is not None and registry.refuses_nulls(model)
    fields = list(schema) if schema is not None else []
    if strict:  # an optional column left out is all missing, as in serving
        for f in fields:
            if f.nullable and f.name not in frame.column_names:
                frame = frame.append_column(f.name, pa.nulls(n, f.type))
    refused = np.zeros(n, dtype=np.bool_)
    refused_values: dict[str, int] = {}
    masks: dict[str, npt.NDArray[np.bool_]] = {}
    for f in fields:
        if f.name not in frame.column_names:
            continue  # model.predict names it
        masks[f.name] = mask = missing_mask(frame[f.name])
        if strict and not f.nullable and mask.any():
            refused |= mask
            refused_values[f.name] = int(mask.sum())
    keep = ~refused
    reasons = np.full(n, None, dtype=object)
    for row in np.flatnonzero(refused):  # the few refused rows, not every row
        names = ", ".join(c for c in refused_values if masks[c][row])
        reasons[row] = f"null in required column(s) {names}"
    imputed_rows = np.zeros(n, dtype=np.bool_)
    imputed_values: dict[str, int] = {}
    for name, mask in masks.items() if model.task is not None else ():
        # Our models impute what they are given; what another pyfunc does is not known here.
        count = int((mask & keep).sum())
        if count:
            imputed_values[name] = count
            imputed_rows |= mask & keep
    rows = frame.filter(pa.array(keep)) if refused.any() else frame
    out = model.predict(rows.to_pandas())
    scored = frame
    for column in out.columns:
        values = out[column].to_numpy()
        full = np.zeros(n, dtype=values.dtype)
        full[keep] = values
        scored = scored.append_column(column, pa.array(full, mask=refused))
    scored = scored.append_column(REFUSED, pa.array(reasons, pa.string()))
    now = datetime.now(UTC)
    n = scored.num_rows
    scored = scored.append_column("model_name", pa.array([model.name] * n, pa.string()))
    scored = scored.append_column("model_version", pa.array([model.version] * n, pa.int64()))
    scored = scored.append_column("scored_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))
    return Scoring(
        scored,
        int(keep.sum()),
        int(refused.sum()),
        int(imputed_rows.sum()),
        imputed_values,
        refused_values,
    )


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
    scoring = score_table(data, reg.load_model(name, version))
    scored = scoring.table
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
            "scored": scoring.scored,
            "refused": scoring.refused,
            "imputed": scoring.imputed,
            "imputed_values": scoring.imputed_values,
            "refused_values": scoring.refused_values,
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
        scoring.scored,
        scoring.refused,
        scoring.imputed,
        scoring.imputed_values,
        scoring.refused_values,
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
