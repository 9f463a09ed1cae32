"""What `stacks deploy` wants from a stack, and which Prefect API it talks to, without a server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from lakestacks.errors import UserError
from lakestacks.flows import deployments, server
from lakestacks.spec import load_stack
from tests.conftest import STACKS


def stack_in(folder: Path, **sections: object) -> Path:
    doc = yaml.safe_load((STACKS / "quickstart.yaml").read_text())
    doc.update(sections)
    (folder / "churn_features.py").write_text((STACKS / "churn_features.py").read_text())
    path = folder / "stack.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_wanted_deployments_follow_the_stack(tmp_path: Path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "pipeline.py").write_text("# the project's own entrypoint\n")
    path = stack_in(
        tmp_path,
        schedules={
            "pipeline": {"cron": "0 3 * * 1", "timezone": "Europe/Stockholm"},
            "training": "15 1 * * *",
        },
        environments={"prod": {"work_pool": "gpu", "working_dir": "/app",
                               "job_variables": {"image": "acme/churn:1"}}},
    )  # fmt: skip
    want = {w.flow: w for w in deployments.wanted(load_stack(path, "prod"))}
    assert set(want) == {"pipeline", "batch_inference", "training"}
    pipeline = want["pipeline"]
    assert pipeline.full_name == "pipeline/churn-prod"
    assert pipeline.entrypoint == "flows/pipeline.py:pipeline"  # the project's file
    assert want["training"].entrypoint == "lakestacks.entrypoints.training"  # built in
    assert (pipeline.cron, pipeline.timezone) == ("0 3 * * 1", "Europe/Stockholm")
    assert (want["training"].cron, want["training"].timezone) == ("15 1 * * *", "UTC")
    assert want["batch_inference"].cron is None  # deployed, run on demand
    assert pipeline.parameters == {"stack": "stack.yaml", "env": "prod"}
    assert (pipeline.work_pool, pipeline.working_dir) == ("gpu", "/app")
    assert pipeline.job_variables == {"image": "acme/churn:1"}
    assert {"stack:churn", "env:prod"} <= set(pipeline.tags)
    assert pipeline.version is None  # not a git repository
    dev = deployments.wanted(load_stack(path))[0]
    assert (dev.work_pool, dev.working_dir) == ("process", str(tmp_path))


def test_a_monitoring_schedule_deploys_the_monitoring_flow(tmp_path: Path) -> None:
    """Issue 17: `schedules: {monitoring: cron}` deploys (it was refused before monitoring
    was built)."""
    path = stack_in(tmp_path, schedules={"monitoring": "0 * * * *"})
    want = {w.flow: w for w in deployments.wanted(load_stack(path))}
    assert want["monitoring"].entrypoint == "lakestacks.entrypoints.monitoring"  # built in
    assert want["monitoring"].full_name == "monitoring/churn-dev"


def test_the_api_url_comes_from_the_env_then_prefect_api_url_then_the_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    path = stack_in(tmp_path, environments={"prod": {"prefect_api_url": "http://prefect:4200/api"}})
    with pytest.raises(UserError, match="stacks server start"):
        deployments.api_url(load_stack(path))

    # A server `stacks server start` left running (its PID alive) is found.
    (tmp_path / "home").mkdir()
    state = {"url": "http://127.0.0.1:4999/api", "pool": "process", "home": "x",
             "server_pid": os.getpid(), "worker_pid": None}  # fmt: skip
    (tmp_path / "home" / "server.json").write_text(json.dumps(state))
    assert server.local_api_url() == "http://127.0.0.1:4999/api"
    assert deployments.api_url(load_stack(path)) == "http://127.0.0.1:4999/api"

    monkeypatch.setenv("PREFECT_API_URL", "http://elsewhere:4200/api/")
    assert deployments.api_url(load_stack(path)) == "http://elsewhere:4200/api"
    assert deployments.api_url(load_stack(path, "prod")) == "http://prefect:4200/api"


def test_an_unreachable_api_is_one_clear_error(tmp_path: Path) -> None:
    path = stack_in(tmp_path)
    with pytest.raises(UserError, match=r"cannot reach the Prefect API at http://127\.0\.0\.1:9"):
        deployments.plan(load_stack(path), url="http://127.0.0.1:9/api")


def test_server_start_with_a_dead_prefect_api_url_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKS_HOME", str(tmp_path))
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    with pytest.raises(UserError, match=r"PREFECT_API_URL is http://127\.0\.0\.1:9/api, but no"):
        server.start()
    assert server.status() is None  # nothing started, nothing recorded
