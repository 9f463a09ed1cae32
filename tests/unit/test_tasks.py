"""Task kinds: registered under ``lakestacks.tasks``, chosen by ``training.task``; each owns
its target encoding, the column its metrics read, its metrics and its request formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from lakestacks.errors import UserError
from lakestacks.serving.protocol import BadRequest, UnsupportedMediaType, parse_body
from lakestacks.spec import load_stack
from lakestacks.spec.plugins import task_names
from lakestacks.tasks import TaskKind, kind_for, task_kind
from tests.conftest import STACKS


def test_the_tabular_kinds_are_registered_as_plugins() -> None:
    assert {"classification", "regression"} <= set(task_names())
    for name in ("classification", "regression"):
        kind = task_kind(name)
        assert isinstance(kind, TaskKind) and kind.name == name
    with pytest.raises(UserError, match=r"unknown training.task 'chat'.*classification"):
        task_kind("chat")


def _stack(tmp_path: Path, **training: object) -> Path:
    doc = yaml.safe_load((STACKS / "quickstart.yaml").read_text())
    doc["training"].update(training)
    (tmp_path / "churn_features.py").write_text((STACKS / "churn_features.py").read_text())
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_auto_looks_at_the_model_and_an_explicit_task_wins(tmp_path: Path) -> None:
    assert kind_for(load_stack(_stack(tmp_path))).name == "classification"  # predict_proba
    explicit = _stack(tmp_path, model="lakestacks.training.tabular:MLPRegressor", task="auto")
    assert kind_for(load_stack(explicit)).name == "regression"


def test_each_kind_encodes_its_target_and_scores_with_its_metrics() -> None:
    test = pa.table({"y": pa.array([True, False, True, False])})
    classification, regression = task_kind("classification"), task_kind("regression")
    y = classification.truth(test, "y")
    assert y.tolist() == [1.0, 0.0, 1.0, 0.0]
    scores = classification.metrics(["roc_auc"], y, np.array([0.9, 0.1, 0.8, 0.3]), {})
    assert scores == {"roc_auc": 1.0}
    values = pa.table({"y": pa.array([1.0, 2.0, 3.0])})
    with pytest.raises(UserError):
        classification.truth(values, "y")  # not 0/1
    y_reg = regression.truth(values, "y")
    assert regression.metrics(["mae"], y_reg, np.array([1.0, 2.0, 4.0]), {}) == {
        "mae": pytest.approx(1 / 3)
    }


def test_serving_takes_only_the_formats_of_the_kind() -> None:
    body = b'{"dataframe_records": [{"x": 1.5}]}'
    assert parse_body(body, "application/json", None, ("dataframe_records",)).table.num_rows == 1
    with pytest.raises(BadRequest, match="exactly one of inputs"):
        parse_body(body, "application/json", None, ("inputs",))
    with pytest.raises(UnsupportedMediaType, match=r"send application/json$"):
        parse_body(b"x\n1.5\n", "text/csv", None, ("inputs",))
    assert "csv" in task_kind("classification").request_formats
