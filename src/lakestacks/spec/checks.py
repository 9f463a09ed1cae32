"""Checks across sections: names that must refer to something declared elsewhere.

Each check reads only sections that validated on their own, so one broken section does not
hide the problems of the others.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lakestacks.spec._yaml import Loc
from lakestacks.spec.data import DataSection
from lakestacks.spec.deployment import DeploymentSection
from lakestacks.spec.evaluation import CLASSIFICATION, METRICS, EvaluationSection
from lakestacks.spec.expectations import EXPECTATIONS, canonical_name
from lakestacks.spec.monitoring import MonitoringSection
from lakestacks.spec.training import TrainingSection

__all__ = ["Finding", "cross_check", "data_tables", "split_table", "stack_tables"]


@dataclass(frozen=True)
class Finding:
    """A cross-reference problem at a field path."""

    loc: Loc
    message: str
    hint: str


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"use one of: {', '.join(known)}" if known else "declare it first"


def data_tables(data: DataSection) -> list[str]:
    """Tables data prep writes: each source's ingested table, then each step's output."""
    return [*data.sources, *(step.output for step in data.prep)]


def split_table(data: DataSection) -> str | None:
    """The table the split applies to: the one named, else the last prep output or only source."""
    if data.split is None:
        return None
    if data.split.table is not None:
        return data.split.table
    if data.prep:
        return data.prep[-1].output
    return next(iter(data.sources)) if len(data.sources) == 1 else None


def model_short_name(stack_name: str, deployment: DeploymentSection | None) -> str:
    """The registered model's short name: ``deployment.model``, else ``<stack>_model``."""
    return deployment.model if deployment else f"{stack_name}_model"


def stack_tables(data: DataSection | None, deployment: DeploymentSection | None) -> list[str]:
    """Every table the stack writes, in the order its stages write them."""
    tables = data_tables(data) if data else []
    if deployment and deployment.batch:
        tables.append(deployment.batch.output)
    if deployment and deployment.serving and deployment.serving.inference_table:
        tables.append(deployment.serving.inference_table)
    return tables


def _check_data(data: DataSection) -> Iterator[Finding]:
    available = list(data.sources)
    for i, step in enumerate(data.prep):
        for j, name in enumerate(step.inputs or []):
            if name not in available:
                yield Finding(
                    ("data", "prep", i, "inputs", j),
                    f"input {name!r} is not a source or an earlier step's output",
                    _suggest(name, available),
                )
        if step.output in available:
            yield Finding(
                ("data", "prep", i, "output"),
                f"output {step.output!r} is already written by a source or an earlier step",
                "give each table one writer; rename this output",
            )
        available.append(step.output)
    for table, suite in data.expectations.items():
        if table not in available:
            yield Finding(
                ("data", "expectations", table),
                f"expectations for table {table!r}, which data prep does not write",
                _suggest(table, available),
            )
        for k, check in enumerate(suite.checks):
            yield from _check_expectation(
                ("data", "expectations", table, "checks", k), check.expect, check.model_extra or {}
            )
    if data.split is not None:
        if data.split.table is not None and data.split.table not in available:
            yield Finding(
                ("data", "split", "table"),
                f"split table {data.split.table!r} is not written by data prep",
                _suggest(data.split.table, available),
            )
        elif split_table(data) is None:
            yield Finding(
                ("data", "split"),
                "which table to split is ambiguous",
                f"add 'table:' naming one of: {', '.join(available)}",
            )


def _check_expectation(loc: Loc, expect: str, args: dict[str, Any]) -> Iterator[Finding]:
    name = canonical_name(expect)
    if name not in EXPECTATIONS:
        yield Finding(
            (*loc, "expect"),
            f"unknown expectation {expect!r}",
            _suggest(name, sorted(EXPECTATIONS)),
        )
        return
    required, optional = EXPECTATIONS[name]
    allowed = [*required, *optional, "description"]
    for arg in args:
        if arg not in allowed:
            yield Finding(
                (*loc, arg), f"{expect!r} takes no argument {arg!r}", _suggest(arg, allowed)
            )
    for arg in required:
        if arg not in args:
            yield Finding(
                loc, f"{expect!r} needs the argument {arg!r}", f"add '{arg}:' to this check"
            )


def cross_check(sections: dict[str, Any], failed: frozenset[str] = frozenset()) -> list[Finding]:
    """Problems between sections.

    ``sections`` maps each valid section to its model (None when absent); ``failed`` names
    the sections that are present but invalid, which count as declared but are not read.
    """
    data: DataSection | None = sections.get("data")
    training: TrainingSection | None = sections.get("training")
    evaluation: EvaluationSection | None = sections.get("evaluation")
    deployment: DeploymentSection | None = sections.get("deployment")
    monitoring: MonitoringSection | None = sections.get("monitoring")
    found: list[Finding] = list(_check_data(data)) if data else []
    tables = stack_tables(data, deployment)

    if training is not None and data is not None:
        if data.split is None:
            found.append(
                Finding(
                    ("training",),
                    "training needs a split of the data",
                    "add 'data.split' with 'by:' and 'test:'",
                )
            )
        elif training.table is not None and training.table not in data_tables(data):
            found.append(
                Finding(
                    ("training", "table"),
                    f"table {training.table!r} is not written by data prep",
                    _suggest(training.table, data_tables(data)),
                )
            )
        if training.features and training.target in training.features:
            found.append(
                Finding(
                    ("training", "features"),
                    f"the target {training.target!r} is also listed as a feature",
                    "remove it from 'features'",
                )
            )
    for needs_training in ("evaluation", "deployment"):
        if (
            sections.get(needs_training) is not None
            and training is None
            and ("training" not in failed)
        ):
            found.append(
                Finding(
                    (needs_training,),
                    f"{needs_training} needs a 'training' section",
                    f"add 'training', or remove '{needs_training}'",
                )
            )
    if evaluation is not None:
        for name in evaluation.custom_metrics:
            if name in METRICS:
                found.append(
                    Finding(
                        ("evaluation", "custom_metrics", name),
                        f"custom metric {name!r} has the name of a built-in metric",
                        "give it another name",
                    )
                )
        computed = [*evaluation.metrics, *evaluation.custom_metrics]
        for i, gate in enumerate(evaluation.gates):
            if gate.metric is not None and gate.metric not in computed:
                hint = (
                    f"add {gate.metric!r} to evaluation.metrics"
                    if gate.metric in METRICS
                    else _suggest(gate.metric, computed)
                )
                found.append(
                    Finding(
                        ("evaluation", "gates", i, "metric"),
                        f"gate on metric {gate.metric!r}, which is not in evaluation.metrics",
                        hint,
                    )
                )
        if training is not None and training.task != "auto":
            classification = training.task == "classification"
            for i, metric in enumerate(evaluation.metrics):
                if (metric in CLASSIFICATION) != classification:
                    found.append(
                        Finding(
                            ("evaluation", "metrics", i),
                            f"metric {metric!r} does not apply to {training.task}",
                            "use accuracy, precision, recall, f1, roc_auc, pr_auc, log_loss "
                            "for classification; rmse, mae, r2, mape for regression",
                        )
                    )
    if deployment is not None:
        if deployment.batch is not None and data is not None:
            written = data_tables(data)
            if deployment.batch.input not in written:
                found.append(
                    Finding(
                        ("deployment", "batch", "input"),
                        f"batch input {deployment.batch.input!r} is not a table of this stack",
                        _suggest(deployment.batch.input, written),
                    )
                )
            if deployment.batch.output in written:
                found.append(
                    Finding(
                        ("deployment", "batch", "output"),
                        f"batch output {deployment.batch.output!r} would overwrite a "
                        "data-prep table",
                        "name a new table, e.g. 'predictions'",
                    )
                )
    if monitoring is not None:
        for key in ("baseline", "table"):
            name = getattr(monitoring, key)
            if name not in tables:
                found.append(
                    Finding(
                        ("monitoring", key),
                        f"monitoring.{key} {name!r} is not a table of this stack",
                        _suggest(name, tables),
                    )
                )
    for flow, needs in (
        ("batch_inference", "deployment.batch"),
        ("monitoring", "monitoring"),
        ("training", "training"),
        ("evaluation", "evaluation"),
    ):
        section, _, sub = needs.partition(".")
        value = sections.get(section)
        if sub and value is not None:
            value = getattr(value, sub)
        declared = value is not None or section in failed
        if flow in (sections.get("schedules") or {}) and not declared:
            found.append(
                Finding(
                    ("schedules", flow),
                    f"schedule for flow {flow!r}, but the stack has no '{needs}'",
                    f"add '{needs}', or remove this schedule",
                )
            )
    return found
