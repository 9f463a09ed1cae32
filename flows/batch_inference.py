"""Batch scoring with the champion as a Prefect flow; `stacks deploy` schedules it.

Scores the stack's `deployment.batch.input` table with `models:/NAME@champion` into its
`output` table, stamped with the model version. Run it by hand with
`python flows/batch_inference.py [ENV]`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from lakestacks import api

STACK = Path(__file__).resolve().parents[1] / "stack.yaml"


@flow(name="batch_inference")
def batch_inference(env: str = "dev") -> str:
    """Score the batch input with the current champion; the run's status."""
    return api.run(STACK, "batch_inference", env).status


if __name__ == "__main__":
    print(batch_inference.fn(*sys.argv[1:2]))  # noqa: T201 - a script's answer
