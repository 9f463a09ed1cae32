"""The built-in Prefect entrypoints a deployment runs when a project has no flows/ file:
a deployed (or triggered) run goes through the same gates and fails when they reject."""

from __future__ import annotations

import pytest

from lakestacks import entrypoints
from tests.e2e.conftest import Project

pytestmark = pytest.mark.integration


def test_a_rejected_version_fails_the_deployed_run_and_keeps_the_champion(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)  # a deployment's working directory is the project folder
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert entrypoints.pipeline.fn(stack="stack.yaml", env="dev") == "promoted"
    assert project.champion() == 1

    project.set("evaluation.gates", [{"metric": "roc_auc", "min": 0.999}])
    with pytest.raises(RuntimeError, match="rejected by its gates"):
        entrypoints.pipeline.fn(stack="stack.yaml", env="dev")
    assert project.champion() == 1
    assert entrypoints.batch_inference.fn(stack="stack.yaml", env="dev") == "done"
