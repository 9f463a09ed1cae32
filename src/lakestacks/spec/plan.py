"""The pipeline's stages in order, with the tables and model each reads and writes.

One source of truth for stage order: ``stacks plan`` prints it and the pipeline runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lakestacks.spec.checks import model_short_name, split_table
from lakestacks.spec.data import Source
from lakestacks.spec.loader import ResolvedStack

__all__ = ["Stage", "build_plan"]


@dataclass(frozen=True)
class Stage:
    """One stage of the pipeline.

    Attributes:
        name: The flow/stage name, e.g. ``data_prep``.
        reads: What it reads: full table names, sources, model references.
        writes: What it writes.
        note: How it behaves under this stack (mode, approval kind).
        later: True for a stage that is validated now but whose runner lands in a later release.
    """

    name: str
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    note: str = ""
    later: bool = False


def _describe(name: str, source: Source) -> str:
    if source.generator:
        return f"{name} <- generator {source.generator}"
    if source.table:
        at = f"@v{source.version}" if source.version is not None else ""
        return f"{name} <- table {source.table}{at}"
    return f"{name} <- file {source.path}"


def build_plan(resolved: ResolvedStack) -> list[Stage]:
    """The ordered stages ``stacks run`` executes for this stack and environment.

    Example:
        >>> [s.name for s in build_plan(load_stack("stacks/quickstart.yaml"))]  # doctest: +SKIP
        ['data_prep', 'training', 'evaluation', 'approval', 'deployment', 'batch_inference']
    """
    spec, cat = resolved.stack, resolved.catalog
    data = spec.data
    stages: list[Stage] = []
    writes = [cat.qualify(s) for s in data.sources]
    writes += [cat.qualify(step.output) for step in data.prep]
    quarantined = [t for t, suite in data.expectations.items() if suite.mode != "off"]
    if data.expectations:
        writes.append(cat.qualify("_validations"))
    modes = sorted({suite.mode for suite in data.expectations.values()})
    note = f"expectations: {', '.join(modes)}" if modes else "no expectations"
    if quarantined:
        note += f"; failing rows -> {', '.join(f'{t}__quarantine' for t in quarantined)}"
    split = split_table(data)
    if data.split and split:
        s = data.split
        note += f"; split {split} by {s.by}: test {s.test:g}, validation {s.validation:g}"
    stages.append(
        Stage("data_prep", [_describe(n, s) for n, s in data.sources.items()], writes, note)
    )
    if spec.training is None:
        return stages
    table = cat.qualify(spec.training.table or split or "")
    model = cat.model_name(model_short_name(spec.name, spec.deployment))
    registered = [f"model {model} (new version)"]
    stages.append(
        Stage(
            "training",
            [f"{table} (train, validation)"],
            [f"MLflow run in experiment {spec.training.experiment or spec.name}", *registered],
            f"{spec.training.model}, max_epochs {spec.training.trainer.max_epochs}",
        )
    )
    if spec.evaluation is not None:
        champion = [f"{model}@champion"]
        gates = len(spec.evaluation.gates)
        stages.append(
            Stage(
                "evaluation",
                [f"{table} (test)", "candidate", *champion],
                ["metrics on the candidate's run and version", cat.qualify("_decisions")],
                f"{', '.join(spec.evaluation.metrics)}; {gates} gate(s), "
                f"mode {spec.evaluation.mode}",
            )
        )
    approval = spec.approval
    who = f" by {', '.join(approval.approvers)}" if approval.approvers else ""
    record = ["version tags", cat.qualify("_audit")]
    stages.append(Stage("approval", ["gate results"], record, f"{approval.mode}{who}"))
    if spec.deployment is None:
        return stages
    stages.append(
        Stage(
            "deployment",
            ["approved candidate"],
            [f"{model}@champion", f"{model}@previous"],
            "compare-and-set promotion",
        )
    )
    if spec.deployment.batch is not None:
        batch = spec.deployment.batch
        stages.append(
            Stage(
                "batch_inference",
                [cat.qualify(batch.input), f"{model}@champion"],
                [cat.qualify(batch.output)],
                f"mode {batch.mode}",
            )
        )
    if spec.monitoring is not None:
        mon = spec.monitoring
        stages.append(
            Stage(
                "monitoring",
                [cat.qualify(mon.baseline), cat.qualify(mon.table)],
                ["drift report"],
                f"{mon.drift.method} > {mon.drift.threshold:g} -> {mon.on_breach}",
                later=True,
            )
        )
    return stages
