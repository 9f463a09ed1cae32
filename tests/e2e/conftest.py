"""A small churn project in a temporary folder, and helpers to run its lifecycle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lakestacks import api

USER_MODEL = '''\
import lightning.pytorch as pl
import torch
from torch import nn


class Logistic(pl.LightningModule):
    """A user's own model: logistic regression, with predict_proba."""

    def __init__(self, n_features, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.linear = nn.Linear(n_features, 1)

    def forward(self, x):
        return self.linear(x).squeeze(-1)

    def predict_proba(self, x):
        return torch.sigmoid(self(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.binary_cross_entropy_with_logits(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.binary_cross_entropy_with_logits(self(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)
'''

GATES = """\
def no_worse_f1(challenger, champion, tolerance=0.0):
    if champion is None:
        return True, "first model"
    ok = challenger["f1"] >= champion["f1"] - tolerance
    return ok, f"f1 {challenger['f1']:.3f} vs {champion['f1']:.3f}"


def lift(y_true, y_pred):
    import numpy as np

    top = np.argsort(-y_pred)[: max(1, len(y_pred) // 10)]
    return float(y_true[top].mean() / max(y_true.mean(), 1e-9))
"""


def base_stack() -> dict[str, Any]:
    """The quickstart, shrunk: 3,000 customers, 3 epochs."""
    return {
        "version": 1,
        "name": "churn",
        "catalog": "main.churn",
        "environments": {"dev": {"lake": "./lake"}},
        "data": {
            "sources": {
                "customers": {
                    "generator": "lakestacks.data.generators:churn_customers",
                    "params": {"n": 3000, "seed": 7},
                }
            },
            "split": {"by": "customer_id", "test": 0.25, "validation": 0.15, "seed": 7},
        },
        "training": {
            "model": "lakestacks.training.tabular:MLPClassifier",
            "target": "churned",
            "params": {"hidden": 16, "lr": 0.01},
            # CPU: the rerun-ties test needs bit-exact reruns, which a GPU does not promise.
            "trainer": {"max_epochs": 3, "batch_size": 128, "seed": 1, "accelerator": "cpu"},
        },
        "evaluation": {
            "metrics": ["roc_auc", "f1", "accuracy", "log_loss"],
            "gates": [
                {"metric": "roc_auc", "min": 0.55},
                {"metric": "roc_auc", "vs": "champion", "min_delta": 0.0},
            ],
        },
        "approval": {"mode": "auto"},
        "deployment": {
            "model": "churn_model",
            "batch": {"input": "customers", "output": "predictions"},
        },
    }


class Project:
    """A stack file in a folder, rewritten between runs to change one thing at a time."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.doc = base_stack()
        (root / "user_models.py").write_text(USER_MODEL)
        (root / "user_gates.py").write_text(GATES)
        self.path = root / "stack.yaml"
        self.write()

    def write(self) -> Path:
        self.path.write_text(yaml.safe_dump(self.doc, sort_keys=False))
        return self.path

    def set(self, dotted: str, value: Any) -> None:
        node = self.doc
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
        self.write()

    def run(self, flow: str = "pipeline", *, force: bool = False) -> api.RunOutcome:
        return api.run(self.path, flow=flow, runner="direct", force=force)

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    def champion(self) -> int | None:
        from lakestacks import registry

        return registry.alias_version("main.churn.churn_model", registry.CHAMPION)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)
