"""The whole pipeline on the sample data, in the stack's `test` environment (a throwaway lake)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.batch_inference import batch_inference
from flows.pipeline import pipeline


def test_the_pipeline_makes_a_champion_that_scores_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STACKS_TEST_LAKE", str(tmp_path / "lake"))
    # `.fn` runs the flows' code without a Prefect server, as `python flows/pipeline.py` does.
    assert pipeline.fn(env="test") == "promoted"
    assert batch_inference.fn(env="test") == "done"
