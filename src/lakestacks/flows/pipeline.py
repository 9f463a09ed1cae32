"""The pipeline: data_prep -> training -> evaluation -> approval -> deployment ->
batch_inference, as steps of one flow run; and each stage as a flow of its own.

A stage run on its own picks up where the registry says the model is: ``evaluation``
judges the newest version, ``approval`` and ``deployment`` act on the newest evaluated one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from lakestacks import registry
from lakestacks.errors import UserError
from lakestacks.evaluation import load_custom_metrics
from lakestacks.flows import resume as cache
from lakestacks.flows._runner import Runner
from lakestacks.flows.batch_inference import BatchResult, batch_inference
from lakestacks.flows.data_prep import DataPrepResult, data_prep
from lakestacks.flows.evaluation import EvaluationResult, evaluation
from lakestacks.flows.promotion import Decision, approval, deploy
from lakestacks.flows.training import TrainingResult, model_name, training, training_inputs
from lakestacks.spec import ResolvedStack
from lakestacks.spec._refs import load_ref

__all__ = ["EXIT_CODES", "STAGE_FLOWS", "PipelineResult", "pipeline", "stage"]

STAGE_FLOWS = (
    "data_prep", "training", "evaluation", "approval", "deployment", "batch_inference",
)  # fmt: skip
EXIT_CODES = {"promoted": 0, "kept": 0, "done": 0, "rejected": 3, "awaiting_approval": 4}
TAG = registry.TAG


@dataclass
class PipelineResult:
    """Every stage's result, the champion after the run, and how the run ended."""

    data_prep: DataPrepResult | None = None
    training: TrainingResult | None = None
    evaluation: EvaluationResult | None = None
    decision: Decision | None = None
    batch: BatchResult | None = None
    champion: int | None = None
    status: str = "done"
    stages: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 done (promoted or kept), 3 rejected by a gate, 4 awaiting approval."""
        return EXIT_CODES.get(self.status, 0)


def pipeline(
    resolved: ResolvedStack,
    runner: Runner,
    progress: bool = False,
    start: str = "data_prep",
    resume: bool = False,
) -> PipelineResult:
    """Run the stages in order from ``start``; stop at a rejection or a pending approval.

    With ``resume``, data prep and training that an earlier run completed with the same
    inputs are reused instead of run again (see :mod:`lakestacks.flows.resume`).

    Example:
        >>> result, _ = run_flow("churn", lambda r: pipeline(s, r), "direct")  # doctest: +SKIP
        >>> result.status, result.champion  # doctest: +SKIP
        ('promoted', 1)
    """
    spec = resolved.stack
    _preflight(resolved)
    out = PipelineResult()
    if start == "data_prep":
        key = cache.data_prep_key(resolved)
        reused = cache.reuse_data_prep(resolved, key) if resume else None
        out.data_prep = reused or data_prep(resolved, runner)
        if reused:
            out.resumed.append("data_prep")
        else:
            cache.record(resolved, "data_prep", key, out.data_prep)
        out.stages.append("data_prep")
    if spec.training is None:
        return out
    out.training = _train(resolved, runner, progress, resume, out)
    out.stages.append("training")
    done = _earlier_decision(out.training) if "training" in out.resumed else None
    if done is not None:
        out.decision = done
    else:
        if spec.evaluation is not None:
            out.evaluation = evaluation(resolved, runner, out.training)
            out.stages.append("evaluation")
        else:
            out.evaluation = _no_gates(resolved, out.training)
        out.decision = _approve_and_deploy(resolved, runner, out.evaluation)
        out.stages.append("approval")
        if out.decision.status == "promoted":
            out.stages.append("deployment")
    out.status = out.decision.status
    if out.status in ("promoted", "kept") and spec.deployment and spec.deployment.batch:
        out.batch = batch_inference(resolved, runner)
        out.stages.append("batch_inference")
    out.champion = registry.alias_version(out.training.model, registry.CHAMPION)
    return out


def _train(
    resolved: ResolvedStack, runner: Runner, progress: bool, resume: bool, out: PipelineResult
) -> TrainingResult:
    """Train, or with ``resume`` reuse a version trained on the same inputs and code."""
    if resume:
        reused = cache.reuse_training(
            resolved, cache.training_key(resolved, training_inputs(resolved))
        )
        if reused is not None:
            out.resumed.append("training")
            return reused
    trained = training(resolved, runner, progress)
    cache.record(resolved, "training", cache.training_key(resolved, trained.inputs), trained)
    return trained


def _earlier_decision(trained: TrainingResult) -> Decision | None:
    """What an earlier run decided for a reused version that is already the champion or
    awaits approval: judging it again would compare it with itself or approve it twice."""
    info = registry.get_version(trained.model, trained.version)
    status = info.tags.get(f"{TAG}status")
    champion = registry.alias_version(trained.model, registry.CHAMPION)
    name, version = trained.model, trained.version
    if status == "champion" and champion == version:
        return Decision(
            "promoted", name, version, champion, champion,
            f"v{version} is the champion (promoted by the run being resumed)",
        )  # fmt: skip
    if status == "awaiting_approval":
        return Decision(
            "awaiting_approval", name, version, champion, champion,
            f"v{version} still awaits approval: stacks approve {name} {version} --by NAME",
        )  # fmt: skip
    return None


def _approve_and_deploy(resolved: ResolvedStack, runner: Runner, ev: EvaluationResult) -> Decision:
    """Apply the approval mode to a verdict and promote when it says so."""
    decision = runner.step("approval", approval, resolved, ev)
    if decision.status == "promoted":
        decision = runner.step("deployment", deploy, resolved, decision)
    return decision


def _preflight(resolved: ResolvedStack) -> None:
    """Import the user's model, metric and gate functions before any table or version is
    written, so a broken reference fails the run with nothing half-done."""
    spec, search = resolved.stack, resolved.search_path
    if spec.training is not None:
        load_ref(spec.training.model, search)
    if spec.evaluation is not None:
        load_custom_metrics(spec.evaluation, search)
        for gate in spec.evaluation.gates:
            if gate.function:
                load_ref(gate.function, search)


def _no_gates(resolved: ResolvedStack, trained: TrainingResult) -> EvaluationResult:
    """Without an evaluation section there is nothing to gate on: the version passes."""
    champion = registry.alias_version(trained.model, registry.CHAMPION)
    registry.set_version_tags(
        trained.model,
        trained.version,
        {f"{TAG}compared_champion": str(champion) if champion else "none", f"{TAG}gates": "none"},
    )
    return EvaluationResult(
        trained.model,
        trained.version,
        trained.run_id,
        champion,
        {},
        None,
        [],
        table=trained.table,
        table_version=trained.inputs.get(trained.table, 0),
    )


def _newest(resolved: ResolvedStack, status: str) -> registry.ModelVersionInfo:
    name = model_name(resolved)
    registry.configure(resolved.runtime.tracking_uri, resolved.runtime.registry_uri)
    for model in registry.list_models(name):
        if model.name != name:
            continue
        for info in model.versions:  # newest first
            if info.tags.get(f"{TAG}status") == status:
                return info
    raise UserError(f"{name} has no version that is {status}; run `stacks run` first")


def _trained(info: registry.ModelVersionInfo) -> TrainingResult:
    inputs = {k: int(v) for k, v in json.loads(info.tags.get(f"{TAG}inputs", "{}")).items()}
    run = registry.run_record(info.run_id or info.tags.get(f"{TAG}run_id", ""))
    params = run["params"]
    return TrainingResult(
        model=info.name,
        version=info.version,
        run_id=run["run_id"],
        task=params["task"],
        table=next(iter(inputs)),
        inputs=inputs,
        rows={},
        epochs=0,
        features=json.loads(params.get("features", "[]")),
    )


def _evaluated(info: registry.ModelVersionInfo) -> EvaluationResult:
    tags = info.tags
    decisions: list[dict[str, Any]] = json.loads(tags.get(f"{TAG}decisions", "[]"))
    compared = tags.get(f"{TAG}compared_champion", "none")
    return EvaluationResult(
        model=info.name,
        version=info.version,
        run_id=info.run_id or "",
        champion_version=int(compared) if compared.isdigit() else None,
        metrics=json.loads(tags.get(f"{TAG}metrics", "{}")),
        champion_metrics=json.loads(tags.get(f"{TAG}champion_metrics", "{}")) or None,
        decisions=decisions,
    )


def stage(
    resolved: ResolvedStack, runner: Runner, name: str, progress: bool = False
) -> PipelineResult:
    """Run one stage as its own flow, picking up the model's state from the registry."""
    spec = resolved.stack
    out = PipelineResult(stages=[name])
    if name == "data_prep":
        out.data_prep = data_prep(resolved, runner)
        return out
    if spec.training is None:
        raise UserError(f"flow {name!r} needs a 'training' section in the stack")
    if name == "training":
        out.training = training(resolved, runner, progress)
    elif name == "evaluation":
        if spec.evaluation is None:
            raise UserError("this stack has no 'evaluation' section")
        out.evaluation = evaluation(resolved, runner, _trained(_newest(resolved, "trained")))
    elif name in ("approval", "deployment"):
        out.evaluation = _evaluated(_newest(resolved, "evaluated"))
        out.decision = _approve_and_deploy(resolved, runner, out.evaluation)
        out.status = out.decision.status
    elif name == "batch_inference":
        out.batch = batch_inference(resolved, runner)
    else:
        raise UserError(f"unknown flow {name!r}; flows: pipeline, {', '.join(STAGE_FLOWS)}")
    out.champion = registry.alias_version(model_name(resolved), registry.CHAMPION)
    return out
