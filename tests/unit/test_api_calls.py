"""The public API's calling convention: keyword-only after the first argument; the
positional calls of before still work for one release, with a DeprecationWarning."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from lakestacks import api
from tests.conftest import REPO, STACKS

QUICKSTART = STACKS / "quickstart.yaml"


@pytest.mark.parametrize(
    "name",
    ["run", "approve", "reject", "rollback", "models", "lineage", "plan", "deploy", "trigger"],
)
def test_public_functions_are_keyword_only_after_the_first_argument(name: str) -> None:
    parameters = list(inspect.signature(getattr(api, name)).parameters.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:]), name


def test_a_positional_call_still_works_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match=r"api\.plan\(\): pass env by keyword"):
        steps = api.plan(QUICKSTART, "dev")
    assert [s.name for s in steps] == [s.name for s in api.plan(QUICKSTART, env="dev")]


def test_a_positional_call_maps_the_old_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # rollback(model, path, env, by, reason) was the old order; now path and env are keywords.
    monkeypatch.setenv("STACKS_TEST_LAKE", str(tmp_path / "lake"))
    with pytest.warns(DeprecationWarning), pytest.raises(Exception, match="no registered model"):
        api.rollback("churn_model", QUICKSTART, "test")  # a fresh lake: nothing to roll back
    with pytest.raises(TypeError, match="twice"), pytest.warns(DeprecationWarning):
        api.plan(QUICKSTART, "dev", env="dev")


def test_the_scaffolded_entrypoints_call_the_api_by_keyword() -> None:
    for path in (REPO / "flows").glob("*.py"):
        text = path.read_text()
        assert "api.run(PROJECT / stack, flow=" in text, path
