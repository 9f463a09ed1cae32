"""Lightning training: data modules, the trainer factory and the built-in models.

The names below load on first use: importing ``lakestacks.training`` (or its torch-free
``features`` module) must not pull in torch and Lightning for callers that only validate.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakestacks.training.data import TabularBatches, TabularDataModule, batch_loader
    from lakestacks.training.features import (
        FeatureEncoder,
        Task,
        encode_target,
        infer_task,
    )
    from lakestacks.training.trainer import (
        EpochMetrics,
        TabularPredictor,
        TrainedModel,
        make_trainer,
        quiet_lightning,
        train,
    )

__all__ = [
    "EpochMetrics",
    "FeatureEncoder",
    "TabularBatches",
    "TabularDataModule",
    "TabularPredictor",
    "Task",
    "TrainedModel",
    "batch_loader",
    "encode_target",
    "infer_task",
    "make_trainer",
    "quiet_lightning",
    "train",
]

_HOME = {
    "TabularBatches": "data",
    "TabularDataModule": "data",
    "batch_loader": "data",
    "FeatureEncoder": "features",
    "Task": "features",
    "encode_target": "features",
    "infer_task": "features",
    "EpochMetrics": "trainer",
    "TabularPredictor": "trainer",
    "TrainedModel": "trainer",
    "make_trainer": "trainer",
    "quiet_lightning": "trainer",
    "train": "trainer",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this hook
    return value
