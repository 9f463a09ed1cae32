"""Batch scoring with the champion as a Prefect flow; `stacks deploy` schedules it.

Scores the stack's `deployment.batch.input` table with `models:/NAME@champion` into its
`output` table, stamped with the model version. Run it by hand with
`python flows/batch_inference.py [ENV]`. Keep the signature: deployments pass `stack` and
`env`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from lakestacks import api

PROJECT = Path(__file__).resolve().parents[1]


@flow(name="batch_inference")
def batch_inference(stack: str = "stack.yaml", env: str = "dev") -> str:
    """Score the batch input with the current champion; the run's status."""
    return api.run(PROJECT / stack, flow="batch_inference", env=env).status


if __name__ == "__main__":
    print(batch_inference.fn(env=(sys.argv[1:] or ["dev"])[0]))  # noqa: T201 - a script's answer
