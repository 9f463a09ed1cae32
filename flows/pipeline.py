"""The project's whole pipeline as a Prefect flow; `stacks deploy` schedules it.

data prep -> training -> evaluation -> approval -> deployment -> batch inference, as the
stack beside this folder declares. Run it once by hand with `python flows/pipeline.py [ENV]`.
Add your own steps around `api.run` (a notification, an extra check); keep the signature.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from lakestacks import api

STACK = Path(__file__).resolve().parents[1] / "stack.yaml"


@flow(name="pipeline")
def pipeline(env: str = "dev") -> str:
    """Run the pipeline; its status: promoted, kept, or awaiting_approval.

    Raises:
        RuntimeError: a model gate rejected the new version (the champion is unchanged).
    """
    outcome = api.run(STACK, "pipeline", env)
    if outcome.status == "rejected":
        raise RuntimeError(outcome.message)
    return outcome.status


if __name__ == "__main__":
    print(pipeline.fn(*sys.argv[1:2]))  # noqa: T201 - a script's answer
