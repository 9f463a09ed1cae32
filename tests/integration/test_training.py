"""Training on a real split Delta table: metrics per epoch, determinism, quiet output."""

from __future__ import annotations

import pickle
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pyarrow as pa
import pytest
import torch

from lakestacks.data.generators import churn_customers
from lakestacks.data.split import SPLIT_COLUMN, assign_split, read_split
from lakestacks.data.tables import write_table
from lakestacks.errors import UserError
from lakestacks.spec.training import TrainingSection
from lakestacks.training.data import TabularBatches, TabularDataModule
from lakestacks.training.trainer import TabularPredictor, TrainedModel, train

pytestmark = pytest.mark.integration

MLP = "lakestacks.training.tabular:MLPClassifier"


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """2,000 customers (with their planted nulls) split 60/20/20 into a Delta table."""
    path = str(tmp_path_factory.mktemp("lake") / "customers")
    table = assign_split(churn_customers(n=2_000, seed=3), "customer_id", 0.2, 0.2, seed=1)
    write_table(path, table)
    return path


def section(
    model: str = MLP,
    epochs: int = 3,
    search_path: tuple[str, ...] = (),
    trainer: dict[str, Any] | None = None,
    **extra: Any,
) -> TrainingSection:
    return TrainingSection.model_validate(
        {
            "model": model,
            "target": "churned",
            "trainer": {"max_epochs": epochs, **(trainer or {})},
            **extra,
        },
        context={"search_path": search_path},
    )


def datamodule(path: str, **kwargs: Any) -> TabularDataModule:
    kwargs.setdefault("task", "classification")
    return TabularDataModule(path, target="churned", exclude=["customer_id"], **kwargs)


def fit(path: str, tmp: Path, trainer: dict[str, Any] | None = None, **kwargs: Any) -> TrainedModel:
    spec = section(trainer=trainer)
    return train(spec, datamodule(path), search_path=[], checkpoint_dir=tmp, **kwargs)


def test_trains_logs_each_epoch_and_keeps_the_best_checkpoint(
    churn: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[int, dict[str, float]]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = fit(
            churn, tmp_path, on_epoch=lambda metrics, epoch: seen.append((epoch, metrics))
        )
    assert [str(w.message) for w in caught] == []

    assert [epoch for epoch, _ in seen] == [0, 1, 2]
    assert all({"train_loss", "val_loss"} <= set(m) for _, m in seen)
    assert trained.history == [m for _, m in seen]
    assert trained.epochs_run == 3
    assert trained.best_val_loss == pytest.approx(min(m["val_loss"] for _, m in seen))
    assert trained.best_checkpoint is not None
    assert Path(trained.best_checkpoint).is_file()
    assert not trained.module.training
    # Lightning's banners, tips and model summary stay out of the pipeline's output.
    out, err = capfd.readouterr()
    for noise in ("💡", "Tip", "| Name", "┃ Name", "GPU available", "LeafSpec", "workers"):
        assert noise not in out + err


def test_reads_only_the_features_target_and_split_at_a_pinned_version(churn: str) -> None:
    dm = datamodule(churn)
    dm.setup("fit")
    assert "customer_id" not in dm.feature_columns
    assert {"churned", SPLIT_COLUMN}.isdisjoint(dm.feature_columns)
    assert dm.version == 0
    assert dm.rows["train"] + dm.rows["validation"] < 2_000  # the test split is not read
    x, y = dm.tensors("train")
    assert x.dtype == torch.float32
    assert x.shape == (dm.rows["train"], dm.n_features)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    dm.setup("fit")  # idempotent: the same tensors, not a second read
    assert dm.tensors("train")[0] is x

    narrow = datamodule(churn, features=["tenure", "contract"])
    assert narrow.encoder.output_names == [
        "tenure",
        "contract=month-to-month",
        "contract=one-year",
        "contract=two-year",
    ]
    test = read_split(churn, "test", ["tenure", "churned"])
    assert test.column_names == ["tenure", "churned"]
    assert test.num_rows == 2_000 - sum(dm.rows.values())


def test_same_seed_gives_identical_predictions_on_cpu(churn: str, tmp_path: Path) -> None:
    # Bit-exact reruns are promised on CPU; a GPU run is seeded but not bit-exact.
    test = read_split(churn, "test")
    once = fit(churn, tmp_path / "a", trainer={"accelerator": "cpu"})
    assert once.device == "cpu"
    first = once.predictor().predict(test)
    second = fit(churn, tmp_path / "b", trainer={"accelerator": "cpu"}).predictor().predict(test)
    assert first.dtype == np.float32
    assert first.shape == (test.num_rows,)
    assert ((first > 0) & (first < 1)).all()
    assert np.array_equal(first, second)


def test_predictor_survives_pickle_and_cloudpickle(churn: str, tmp_path: Path) -> None:
    predictor = fit(churn, tmp_path).predictor()
    test = read_split(churn, "test")
    expected = predictor.predict(test)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        again: TabularPredictor = loads(dumps(predictor))
        assert np.array_equal(again.predict(test), expected)
        assert np.array_equal(again.predict(test.to_pandas()), expected)


TINY = """
import lightning.pytorch as pl
import torch
from torch.nn import functional as F


class Tiny(pl.LightningModule):
    def __init__(self, n_features, lr=0.05):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 1)
        self.lr = lr

    def forward(self, x):
        return self.linear(x).squeeze(-1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.binary_cross_entropy_with_logits(self(x), y)
        self.log("train_loss", loss, on_epoch=True, on_step=False)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", F.binary_cross_entropy_with_logits(self(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)
"""


@pytest.fixture
def mymodel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "mymodel.py").write_text(textwrap.dedent(TINY))
    monkeypatch.setattr(sys, "path", list(sys.path))  # load_ref prepends the stack folder
    monkeypatch.delitem(sys.modules, "mymodel", raising=False)
    return str(tmp_path)


def test_a_user_module_from_the_stack_folder_trains(churn: str, mymodel: str) -> None:
    spec = section("mymodel:Tiny", 2, (mymodel,), task="classification", params={"lr": 0.1})
    trained = train(
        spec, datamodule(churn), search_path=[mymodel], checkpoint_dir=Path(mymodel) / "ckpt"
    )
    assert type(trained.module).__name__ == "Tiny"
    assert trained.epochs_run == 2
    scores = trained.predictor().predict(read_split(churn, "test"))
    assert ((scores > 0) & (scores < 1)).all()  # no predict_proba: sigmoid of the logits


def test_bad_params_empty_split_and_task_mismatch_are_user_errors(
    churn: str, tmp_path: Path
) -> None:
    with pytest.raises(UserError, match=r"MLPClassifier with params \{'depth': 3\}"):
        train(
            section(params={"depth": 3}), datamodule(churn), search_path=[], checkpoint_dir=tmp_path
        )
    with pytest.raises(UserError, match="task resolves to classification"):
        train(
            section(),
            datamodule(churn, task="regression"),
            search_path=[],
            checkpoint_dir=tmp_path,
        )
    no_validation = str(tmp_path / "no_validation")
    write_table(
        no_validation,
        assign_split(
            pa.table({"id": range(50), "x": range(50), "churned": [0, 1] * 25}),
            "id",
            0.2,
            0.0,
            seed=1,
        ),
    )
    with pytest.raises(UserError, match=r"validation split .* is empty; set data.split.validation"):
        TabularDataModule(no_validation, target="churned", task="classification").setup("fit")


def test_batches_are_shuffled_per_epoch_from_the_seed() -> None:
    x = torch.arange(10, dtype=torch.float32).unsqueeze(1)
    batches = TabularBatches(x, x.squeeze(1), batch_size=4, shuffle=True, seed=5)
    epoch0 = torch.cat([y for _, y in batches])
    epoch1 = torch.cat([y for _, y in batches])
    assert sorted(epoch0.tolist()) == list(range(10))
    assert not torch.equal(epoch0, epoch1)
    again = TabularBatches(x, x.squeeze(1), batch_size=4, shuffle=True, seed=5)
    assert torch.equal(torch.cat([y for _, y in again]), epoch0)
    assert len(again) == 3


@pytest.mark.gpu
def test_auto_trains_on_the_gpu_and_hands_back_a_cpu_model(churn: str, tmp_path: Path) -> None:
    on_gpu = fit(churn, tmp_path / "gpu")
    assert on_gpu.device.startswith("cuda:0 (")  # the GPU's name follows
    assert {p.device.type for p in on_gpu.module.parameters()} == {"cpu"}
    on_cpu = fit(churn, tmp_path / "cpu", trainer={"accelerator": "cpu"})
    test = read_split(churn, "test")
    gpu, cpu = on_gpu.predictor().predict(test), on_cpu.predictor().predict(test)
    # Same seed, data and batch order: only the kernels' rounding differs.
    assert on_gpu.epochs_run == on_cpu.epochs_run
    assert float(np.abs(gpu - cpu).max()) < 0.01


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_trains_on_the_gpu(churn: str, tmp_path: Path, precision: str) -> None:
    trained = fit(churn, tmp_path, trainer={"precision": precision})
    assert trained.device.startswith("cuda:0")
    assert trained.best_val_loss is not None and np.isfinite(trained.best_val_loss)
    scores = trained.predictor().predict(read_split(churn, "test"))
    assert scores.dtype == np.float32 and ((scores > 0) & (scores < 1)).all()


def test_a_regressor_learns_a_target_in_the_hundreds(tmp_path: Path) -> None:
    # The target is standardized for training and scaled back in predictions: on the raw
    # scale the MLP barely moves in a few epochs (r2 far below 0).
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 3000)
    table = pa.table(
        {"id": np.arange(3000), "x": x, "price": 500 + 300 * x + rng.normal(0, 10, 3000)}
    )
    path = str(tmp_path / "houses")
    write_table(path, assign_split(table, "id", 0.2, 0.2, seed=1))
    spec = TrainingSection.model_validate(
        {"model": "lakestacks.training.tabular:MLPRegressor", "target": "price",
         "params": {"lr": 0.01}, "trainer": {"max_epochs": 5, "accelerator": "cpu"}}
    )  # fmt: skip
    dm = TabularDataModule(path, target="price", task="regression", exclude=["id"])
    trained = train(spec, dm, search_path=[], checkpoint_dir=tmp_path / "ckpt")
    test = read_split(path, "test")
    predicted = trained.predictor().predict(test)
    actual = test["price"].to_numpy()
    r2 = 1 - ((actual - predicted) ** 2).sum() / ((actual - actual.mean()) ** 2).sum()
    assert r2 > 0.9
    assert trained.encoder.target is not None
