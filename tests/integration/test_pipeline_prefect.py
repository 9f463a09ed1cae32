"""The whole pipeline as one Prefect flow run on a real Prefect server, stages as tasks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

READ_RUNS = """
import asyncio, json
from prefect.client.orchestration import get_client
async def main():
    async with get_client() as client:
        names = {f.id: f.name for f in await client.read_flows()}
        runs = await client.read_flow_runs()
        tasks = await client.read_task_runs()
        artifacts = await client.read_artifacts()
        print(json.dumps({"runs": [(str(r.id), names[r.flow_id], r.state_type.value)
                                   for r in runs],
                          "tasks": [(str(t.flow_run_id), t.name) for t in tasks],
                          "artifacts": [(str(a.flow_run_id), a.type, a.key, a.data)
                                        for a in artifacts]}))
asyncio.run(main())
"""


def test_pipeline_runs_as_one_prefect_flow(tmp_path: Path, prefect_api: str) -> None:
    project = Project(tmp_path)
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    cmd = [sys.executable, "-m", "lakestacks.cli", "run", "-s", str(project.path), "--json"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["runner"] == "prefect" and outcome["status"] == "promoted"
    assert outcome["champion"] == 1
    runs = json.loads(
        subprocess.run(
            [sys.executable, "-c", READ_RUNS], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    ours = [(run, state) for run, flow, state in runs["runs"] if flow == "churn"]
    assert [state for _, state in ours] == ["COMPLETED"]
    tasks = {name.rsplit("-", 1)[0] for run, name in runs["tasks"] if run == ours[0][0]}
    for step in ("train", "register", "score", "gates", "approval", "deployment", "batch score"):
        assert step in tasks, (step, sorted(tasks))
    # The run's summary rides along as a markdown artifact of the flow run.
    [(kind, key, text)] = [(t, k, d) for run, t, k, d in runs["artifacts"] if run == ours[0][0]]
    assert kind == "markdown" and key == "churn-dev-pipeline"
    assert "# churn pipeline (env dev): promoted" in text
    assert "champion: `main.churn.churn_model@champion` = v1" in text
    assert "| roc_auc |" in text
