"""The project's whole pipeline as a Prefect flow; `stacks deploy` schedules it.

data prep -> training -> evaluation -> approval -> deployment -> batch inference, as the
stack beside this folder declares; the stages run as tasks of this flow run. Run it once by
hand with `python flows/pipeline.py [ENV]`. Add your own steps around `api.run` (a
notification, an extra check); keep the signature: deployments pass `stack` and `env`, and
monitoring's retrain after a drift breach passes `force`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from prefect import flow

from lakestacks import api

PROJECT = Path(__file__).resolve().parents[1]


@flow(name="pipeline")
def pipeline(stack: str = "stack.yaml", env: str = "dev", force: bool = False) -> str:
    """Run the pipeline; its status: promoted, kept, or awaiting_approval.

    Args:
        stack: The stack file, relative to the project folder.
        env: The environment.
        force: Retrain even on unchanged inputs (monitoring's retrain after a drift breach
            passes it).

    Raises:
        RuntimeError: a model gate rejected the new version (the champion is unchanged).
    """
    outcome = api.run(PROJECT / stack, flow="pipeline", env=env, force=force)
    if outcome.status == "rejected":
        raise RuntimeError(outcome.message)
    return outcome.status


if __name__ == "__main__":
    print(pipeline.fn(env=(sys.argv[1:] or ["dev"])[0]))  # noqa: T201 - a script's answer
