"""Prefect flows: the stages composed as tasks of one flow per run.

Each flow body is plain Python over a :class:`Runner`; the Prefect runner makes every step a
Prefect task of one flow run, the direct runner calls the steps in-process (the fastest
inner loop, and what unit tests use). Prefect is imported only by the Prefect runner.
"""

from lakestacks.flows._runner import RUNNERS, DirectRunner, Runner, choose_runner, run_flow
from lakestacks.flows.batch_inference import BatchResult, batch_inference
from lakestacks.flows.context import RunContext
from lakestacks.flows.data_prep import DataGateFailed, DataPrepResult, data_prep
from lakestacks.flows.deployments import DeployPlan, Triggered
from lakestacks.flows.evaluation import EvaluationResult, evaluation
from lakestacks.flows.lineage import lineage
from lakestacks.flows.pipeline import PipelineResult, pipeline, stage
from lakestacks.flows.promotion import (
    Decision,
    RunStatus,
    approval,
    approve,
    deploy,
    reject,
    rollback,
)
from lakestacks.flows.server import ServerState
from lakestacks.flows.stage import BaseStage, Stage, SummaryTable, plan, registered, to_record
from lakestacks.flows.training import TrainingResult, training

__all__ = [
    "RUNNERS",
    "BaseStage",
    "BatchResult",
    "DataGateFailed",
    "DataPrepResult",
    "Decision",
    "DeployPlan",
    "DirectRunner",
    "EvaluationResult",
    "PipelineResult",
    "RunContext",
    "RunStatus",
    "Runner",
    "ServerState",
    "Stage",
    "SummaryTable",
    "TrainingResult",
    "Triggered",
    "approval",
    "approve",
    "batch_inference",
    "choose_runner",
    "data_prep",
    "deploy",
    "evaluation",
    "lineage",
    "pipeline",
    "plan",
    "registered",
    "reject",
    "rollback",
    "run_flow",
    "stage",
    "to_record",
    "training",
]
