"""Prefect flows: the stages composed as tasks of one flow per stage group.

Each flow body is plain Python over a :class:`Runner`; the Prefect runner makes every step a
Prefect task of one flow run, the direct runner calls the steps in-process (the fastest
inner loop, and what unit tests use). Prefect is imported only by the Prefect runner.
"""

from lakestacks.flows._runner import RUNNERS, DirectRunner, Runner, choose_runner, run_flow
from lakestacks.flows.data_prep import DataGateFailed, DataPrepResult, data_prep

__all__ = [
    "RUNNERS",
    "DataGateFailed",
    "DataPrepResult",
    "DirectRunner",
    "Runner",
    "choose_runner",
    "data_prep",
    "run_flow",
]
