"""`stacks server`, `deploy`, `trigger` and `undeploy` against a real Prefect server and a real
process worker on loopback: schedules, a deployed run to a champion, idempotent re-deploys,
a plan that shows a changed schedule, removal, and both processes stopped by PID."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakestacks.flows import server
from tests.e2e.test_init import make

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    return subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**env, "STACKS_HOME": str(home)},
        timeout=600,
    )


def ok(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout) if done.stdout.lstrip().startswith(("{", "[")) else done.stdout


def git(project: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """STACKS_HOME for the local server; whatever the test leaves running is stopped."""
    path = tmp_path / "stacks-home"
    monkeypatch.setenv("STACKS_HOME", str(path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    yield path
    server.stop()


def deployments(url: str, stack: str, env: str) -> dict[str, Any]:
    """The server's view of the stack's deployments, by ``flow/name``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.settings import PREFECT_API_URL, temporary_settings

    tags = DeploymentFilterTags(all_=[f"stack:{stack}", f"env:{env}"])
    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        found = client.read_deployments(deployment_filter=DeploymentFilter(tags=tags))
        flows = {f.id: f.name for f in client.read_flows()}
        return {f"{flows[d.flow_id]}/{d.name}": d for d in found}


def test_deploy_trigger_redeploy_plan_undeploy_on_a_real_server_and_worker(
    tmp_path: Path, home: Path
) -> None:
    project = make(tmp_path, "tabular-classifier", name="churn")
    assert git(project, "branch", "--show-current").strip() == "main"  # `stacks init` made it
    describe = git(project, "describe", "--always", "--dirty", "--tags", "--abbrev=12")

    # 1. A real server and process worker on a free loopback port.
    started = ok(cli("server", "start", "--port", "0", "--no-ui", "--json", cwd=project, home=home))
    url, pids = started["url"], (started["server_pid"], started["worker_pid"])
    assert url.startswith("http://127.0.0.1:")
    assert all(server._alive(pid) for pid in pids)
    assert ok(cli("server", "status", "--json", cwd=project, home=home))["healthy"] is True

    # 2. Deploy: one deployment per flow, with the stack's cron, pool, parameters, git version.
    first = ok(cli("deploy", "--env", "test", "--json", cwd=project, home=home))
    assert {(c["action"], c["deployment"]) for c in first["changes"]} == {
        ("add", "pipeline/churn-test"),
        ("add", "batch_inference/churn-test"),
    }
    held = deployments(url, "churn", "test")
    pipeline = held["pipeline/churn-test"]
    assert [s.schedule.cron for s in pipeline.schedules] == ["0 3 * * 1"]
    assert [s.schedule.timezone for s in pipeline.schedules] == ["UTC"]
    assert [s.schedule.cron for s in held["batch_inference/churn-test"].schedules] == ["0 2 * * *"]
    assert pipeline.work_pool_name == "process"
    assert pipeline.parameters == {"stack": "stack.yaml", "env": "test"}
    assert pipeline.entrypoint == "flows/pipeline.py:pipeline"
    assert pipeline.version == describe
    assert {"stack:churn", "env:test", "git:main"} <= set(pipeline.tags)
    assert pipeline.global_concurrency_limit.limit == 1  # runs of it never overlap

    # 3. Triggered through the Prefect API; the worker runs it to a champion.
    run = ok(
        cli("trigger", "pipeline", "--env", "test", "--wait", "--json", cwd=project, home=home)
    )
    assert run["state"] == "COMPLETED", run
    models = ok(cli("models", "--env", "test", "--json", cwd=project, home=home))["models"]
    assert models[0]["aliases"] == {"champion": 1}
    assert _task_names(url, run["flow_run_id"]) >= {"train", "gates", "deployment", "batch score"}

    # A flow can start another deployment (as monitoring will start the pipeline); the
    # triggered run is linked to it as a subflow.
    triggered = _trigger_from_a_flow(url, project)
    assert triggered.state == "COMPLETED", triggered
    assert triggered.deployment == "batch_inference/churn-test"
    assert _parent_task_run(url, triggered.flow_run_id) is not None

    # 4. Re-deploying with nothing changed changes nothing on the server.
    again = ok(cli("deploy", "--env", "test", "--json", cwd=project, home=home))
    assert {c["action"] for c in again["changes"]} == {"keep"}
    after = deployments(url, "churn", "test")
    assert {k: d.updated for k, d in after.items()} == {k: d.updated for k, d in held.items()}

    # 5. A changed schedule shows in the plan, and a dry run leaves the server as it was.
    stack = project / "stack.yaml"
    stack.write_text(
        stack.read_text().replace(
            'pipeline: "0 3 * * 1"', 'pipeline: {cron: "30 4 * * 1", timezone: Europe/Stockholm}'
        )
    )
    planned = ok(cli("deploy", "--env", "test", "--dry-run", "--json", cwd=project, home=home))
    change = {c["deployment"]: c for c in planned["changes"]}["pipeline/churn-test"]
    assert change["action"] == "change"
    assert change["changes"]["schedule"] == {
        "from": "0 3 * * 1 (UTC)",
        "to": "30 4 * * 1 (Europe/Stockholm)",
    }
    assert change["changes"]["version"]["to"] == f"{describe}-dirty"
    text = ok(cli("deploy", "--env", "test", "--dry-run", cwd=project, home=home))
    assert "~ pipeline/churn-test" in text and "dry run: nothing changed" in text
    held = deployments(url, "churn", "test")
    assert [s.schedule.cron for s in held["pipeline/churn-test"].schedules] == ["0 3 * * 1"]

    # 6. Undeploy removes both.
    gone = ok(cli("undeploy", "--env", "test", "--json", cwd=project, home=home))
    assert {c["action"] for c in gone["changes"]} == {"remove"}
    assert deployments(url, "churn", "test") == {}

    # 7. Both processes stopped by PID.
    ok(cli("server", "stop", cwd=project, home=home))
    assert not any(server._alive(pid) for pid in pids)
    status = cli("server", "status", cwd=project, home=home)
    assert status.returncode == 1 and "no local server" in status.stdout


def _task_names(url: str, flow_run_id: str) -> set[str]:
    """The task runs of one flow run, by name without Prefect's suffix."""
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    only = FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)]))
    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=only)
        # The stages ran as tasks of the deployed run itself: no nested flow run.
        assert (
            client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id={"any_": [UUID(flow_run_id)]})  # type: ignore[arg-type]
            )
            == []
        )
    return {r.name.rsplit("-", 1)[0] for r in runs}


def test_deploy_without_a_server_says_how_to_get_one(tmp_path: Path, home: Path) -> None:
    project = make(tmp_path, "tabular-classifier", name="churn")
    done = cli("deploy", "--env", "test", cwd=project, home=home)
    assert done.returncode == 2
    assert "stacks server start" in done.stderr and "PREFECT_API_URL" in done.stderr
    assert "Traceback" not in done.stderr


def _trigger_from_a_flow(url: str, project: Path) -> Any:
    from prefect import flow
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from lakestacks import api

    @flow(name="retrain-on-drift")
    def starter() -> Any:
        return api.trigger("batch_inference", path=project / "stack.yaml", env="test", wait=True)

    with temporary_settings({PREFECT_API_URL: url}):
        return starter()


def _parent_task_run(url: str, flow_run_id: str) -> Any:
    from uuid import UUID

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: url}), get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(flow_run_id)).parent_task_run_id


def test_the_ui_of_a_server_on_another_port_calls_that_port(tmp_path: Path, home: Path) -> None:
    import httpx

    started = ok(cli("server", "start", "--port", "0", "--json", cwd=tmp_path, home=home))
    url = started["url"]
    assert not url.endswith(":4200/api")
    settings = httpx.get(url.removesuffix("/api") + "/ui-settings", timeout=10).json()
    assert settings["api_url"] == url
