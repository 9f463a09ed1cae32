"""The quickstart pipeline as a hand-written script: the baseline of ``bench_pipeline``.

Usage: ``python bench/baseline_pipeline.py LAKE`` (LAKE: an empty or missing folder).

What a competent engineer would write to do the quickstart's work with the same libraries
(pyarrow, deltalake, numpy, torch, Lightning, MLflow), without lakestacks: the only import
from lakestacks is the data generator, so the input rows are identical.

- data prep: 20,000 generated customers, ``avg_monthly_spend`` added, the 6 checks of
  ``stacks/quickstart.yaml`` computed with ``pyarrow.compute``, failing rows dropped into
  ``features__quarantine``, a hash split by ``customer_id`` (the same splitmix hash, so the
  same rows land in each split), Delta tables ``customers``, ``features``,
  ``features__quarantine`` and ``_validations``;
- training: the same MLP (copied), the same encoding (standardized numbers, one-hot strings,
  nulls imputed with the train mean), seed, batch order, batch size, epochs and early stopping
  on ``val_loss`` (patience 3), best checkpoint reloaded;
- MLflow in SQLite under the lake (artifacts under the lake too): params, per-epoch metrics,
  the checkpoint, the encoder, a pyfunc model with signature, input example and explicit pip
  requirements; registered, scored on the test split as a pyfunc (roc_auc, f1, accuracy,
  log_loss), the two gates, the ``champion`` alias;
- batch scoring of ``features`` with ``models:/NAME@champion`` into a ``predictions`` table.

Not done here (lakestacks does them): the Great Expectations data-docs HTML page (importing
great_expectations alone takes seconds; ``bench_pipeline`` measures that import separately),
the ``_audit`` and ``_decisions`` tables, lifecycle tags on the model version, the git sha
and stack digest on the run.

It prints one JSON line: epochs run, rows per split, test metrics, seconds.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, datetime
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from lakestacks.data.generators import churn_customers

if TYPE_CHECKING:
    import pandas as pd

MODEL = "main.churn.churn_model"
EXPERIMENT = "churn"
TARGET, KEY, SPLIT = "churned", "customer_id", "_split"
TEST, VALIDATION, SPLIT_SEED = 0.2, 0.1, 7
HIDDEN, LR, MAX_EPOCHS, PATIENCE, BATCH, SEED = 64, 1e-3, 20, 3, 256, 0
CONTRACTS = ["month-to-month", "one-year", "two-year"]


# --- data prep ---------------------------------------------------------------------------


def checks(t: pa.Table) -> list[dict]:
    """The quickstart's 6 expectations; ``bad`` marks failing rows (nulls never fail a range)."""
    n = t.num_rows
    ids, charges = t[KEY], t["monthly_charges"]
    counts = pc.value_counts(ids).flatten()
    dupes = counts[0].filter(pc.greater(counts[1], 1))
    out = [
        ("not_null", KEY, pc.is_null(ids), 1.0),
        ("unique", KEY, pc.is_in(ids, value_set=dupes), 1.0),
        ("between", "tenure", pc.or_(pc.less(t["tenure"], 0), pc.greater(t["tenure"], 120)), 1.0),
        ("between", "age", pc.or_(pc.less(t["age"], 18), pc.greater(t["age"], 100)), 1.0),
        ("in_set", "contract", pc.invert(pc.is_in(t["contract"], pa.array(CONTRACTS))), 1.0),
        ("not_null", "monthly_charges", pc.is_null(charges), 0.95),
    ]
    results = []
    for name, column, bad, mostly in out:
        bad = pc.fill_null(bad, False)
        count = pc.sum(bad).as_py() or 0
        results.append(
            {
                "expectation": name,
                "column": column,
                "success": (n - count) / n >= mostly if n else True,
                "unexpected_count": count,
                "bad": bad,
            }
        )
    return results


def _mix(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hash_split(t: pa.Table) -> pa.Table:
    """train/validation/test from a stable hash of the key (splitmix64 over pandas' hash)."""
    import pandas as pd

    hashed = pd.util.hash_array(t[KEY].to_numpy(), hash_key="lakestacks-split", categorize=False)
    salt = _mix(np.array([SPLIT_SEED + 0x9E3779B97F4A7C15], dtype=np.uint64))[0]
    u = (_mix(hashed ^ salt) >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    labels = np.where(u < TEST, "test", np.where(u < TEST + VALIDATION, "validation", "train"))
    return t.append_column(SPLIT, pa.array(labels, pa.string()))


def data_prep(lake: Path) -> tuple[str, int]:
    tables = lake / "main" / "churn"
    customers = churn_customers(n=20_000, seed=7)
    months = pc.max_element_wise(customers["tenure"], pa.scalar(1, pa.int64()))
    features = customers.append_column(
        "avg_monthly_spend",
        pc.divide(customers["total_charges"], pc.cast(months, pa.float64())),
    )
    started = datetime.now(UTC)
    results = checks(features)
    failing = None
    for r in results:
        if not r["success"]:
            failing = r["bad"] if failing is None else pc.or_(failing, r["bad"])
    if failing is not None:
        quarantine = features.filter(failing)
        features = features.filter(pc.invert(failing))
    features = hash_split(features)

    write_deltalake(str(tables / "customers"), customers, mode="overwrite")
    path = str(tables / "features")
    if DeltaTable.is_deltatable(path):  # an upsert on the key, as the stack's merge mode
        (
            DeltaTable(path)
            .merge(features, f"t.{KEY} = s.{KEY}", source_alias="s", target_alias="t")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute()
        )
    else:
        write_deltalake(path, features, mode="overwrite")
    version = DeltaTable(path).version()
    if failing is not None and quarantine.num_rows:
        stamp = pa.array([started] * quarantine.num_rows, pa.timestamp("us", tz="UTC"))
        write_deltalake(
            str(tables / "features__quarantine"),
            quarantine.append_column("_quarantined_at", stamp),
            mode="append",
        )
    run_id = uuid.uuid4().hex
    rows = pa.table(
        {
            "run_id": [run_id] * len(results),
            "table": ["features"] * len(results),
            "table_version": [version] * len(results),
            "started": pa.array([started] * len(results), pa.timestamp("us", tz="UTC")),
            "expectation": [r["expectation"] for r in results],
            "column": [r["column"] for r in results],
            "success": [r["success"] for r in results],
            "element_count": [customers.num_rows] * len(results),
            "unexpected_count": [r["unexpected_count"] for r in results],
        }
    )
    write_deltalake(str(tables / "_validations"), rows, mode="append")
    return path, version


# --- training ----------------------------------------------------------------------------


class Encoder:
    """Numbers standardized with the train mean/std (nulls -> mean), strings one-hot."""

    def __init__(self, train: pa.Table, columns: list[str]) -> None:
        self.columns = columns
        self.stats: dict[str, tuple[float, float]] = {}
        self.categories: dict[str, list[str]] = {}
        for name in columns:
            col = train[name]
            if pa.types.is_string(col.type):
                values = pc.unique(col).to_pylist()
                self.categories[name] = sorted(v for v in values if v is not None)
            else:
                x = np.asarray(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False))
                x = x[np.isfinite(x)]
                std = float(x.std())
                self.stats[name] = (float(x.mean()), std if std > 0 else 1.0)

    @property
    def width(self) -> int:
        return len(self.stats) + sum(len(c) for c in self.categories.values())

    def transform(self, data: pa.Table | pd.DataFrame) -> np.ndarray:
        t = data if isinstance(data, pa.Table) else pa.Table.from_pandas(data[self.columns])
        out = np.zeros((t.num_rows, self.width), dtype=np.float32)
        at = 0
        for name in self.columns:
            if name in self.stats:
                mean, std = self.stats[name]
                x = np.asarray(pc.cast(t[name], pa.float64()).to_numpy(zero_copy_only=False))
                out[:, at] = np.where(np.isfinite(x), (x - mean) / std, 0.0)
                at += 1
            else:
                cats = self.categories[name]
                codes = pc.index_in(t[name], value_set=pa.array(cats)).fill_null(-1).to_numpy()
                rows = np.flatnonzero(codes >= 0)
                out[rows, at + codes[rows]] = 1.0
                at += len(cats)
        return out


def train(path: str, version: int) -> dict:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from torch import nn
    from torch.utils.data import DataLoader, IterableDataset

    class MLPClassifier(pl.LightningModule):  # lakestacks.training.tabular's, copied
        def __init__(self, n_features: int, hidden: int = 64, lr: float = 1e-3) -> None:
            super().__init__()
            self.lr = lr
            self.net = nn.Sequential(
                nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(0.0),
                nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.0),
                nn.Linear(hidden, 1),
            )  # fmt: skip
            self.loss_fn = nn.BCEWithLogitsLoss()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).squeeze(-1)

        def _step(self, batch, stage: str) -> torch.Tensor:
            x, y = batch
            loss = self.loss_fn(self(x), y)
            self.log(f"{stage}_loss", loss, on_epoch=True, on_step=False)
            return loss

        def training_step(self, batch, batch_idx: int) -> torch.Tensor:
            return self._step(batch, "train")

        def validation_step(self, batch, batch_idx: int) -> torch.Tensor:
            return self._step(batch, "val")

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=0.0)

    class Batches(IterableDataset):
        """Batches as tensor slices, reshuffled each epoch from seed + epoch."""

        def __init__(self, x: torch.Tensor, y: torch.Tensor, shuffle: bool) -> None:
            self.x, self.y, self.shuffle, self.epoch = x, y, shuffle, 0

        def __len__(self) -> int:
            return math.ceil(len(self.y) / BATCH)

        def __iter__(self):
            order = None
            if self.shuffle:
                gen = torch.Generator().manual_seed(SEED + self.epoch)
                self.epoch += 1
                order = torch.randperm(len(self.y), generator=gen)
            for i in range(0, len(self.y), BATCH):
                idx = slice(i, i + BATCH) if order is None else order[i : i + BATCH]
                yield self.x[idx], self.y[idx]

    class History(Callback):
        def __init__(self) -> None:
            self.epochs: list[dict[str, float]] = []

        def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
            self.epochs.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)  # Lightning sets INFO on import
    pl.seed_everything(SEED, workers=True, verbose=False)
    data = DeltaTable(path, version=version).to_pyarrow_dataset()
    columns = [c for c in data.schema.names if c not in (TARGET, KEY, SPLIT)]
    parts = {
        s: data.to_table(columns=[*columns, TARGET], filter=pc.field(SPLIT) == s)
        for s in ("train", "validation")
    }
    encoder = Encoder(parts["train"], columns)
    loaders = {}
    for s, t in parts.items():
        x = torch.from_numpy(encoder.transform(t))
        y = torch.from_numpy(t[TARGET].to_numpy().astype(np.float32))
        loaders[s] = DataLoader(Batches(x, y, s == "train"), batch_size=None)

    module = MLPClassifier(encoder.width, HIDDEN, LR)
    history = History()
    ckpt_dir = tempfile.mkdtemp(prefix="baseline-ckpt-")
    checkpoint = ModelCheckpoint(ckpt_dir, "best", monitor="val_loss", mode="min", save_top_k=1)
    trainer = pl.Trainer(
        accelerator="auto",
        devices=1,
        precision="32",
        max_epochs=MAX_EPOCHS,
        callbacks=[checkpoint, EarlyStopping("val_loss", patience=PATIENCE, mode="min"), history],
        default_root_dir=ckpt_dir,
        logger=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        num_sanity_val_steps=0,
        deterministic=True,
    )
    start = time.perf_counter()
    trainer.fit(module, loaders["train"], loaders["validation"])
    seconds = time.perf_counter() - start
    best = checkpoint.best_model_path
    module.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
    return {
        "module": module.eval(),
        "encoder": encoder,
        "columns": columns,
        "epochs": int(trainer.current_epoch),
        "history": history.epochs,
        "checkpoint": best,
        "seconds": seconds,
        "rows": {s: t.num_rows for s, t in parts.items()},
        "example": parts["train"].select(columns).slice(0, 5).to_pandas(),
    }


# --- MLflow, evaluation, batch scoring ---------------------------------------------------


def pyfunc_model(module, encoder):
    import mlflow.pyfunc
    import pandas as pd
    import torch

    # MLflow advises type hints on predict when the class is made, under a filter of its own
    # that outranks ours; the model has an explicit signature, so drop the advice.
    show, warnings.showwarning = warnings.showwarning, lambda *args, **kwargs: None
    try:

        class Model(mlflow.pyfunc.PythonModel):
            def __init__(self, module, encoder) -> None:
                self.module, self.encoder = module, encoder

            def predict(self, context, model_input, params=None):
                with torch.no_grad():
                    x = torch.from_numpy(self.encoder.transform(model_input))
                    p = torch.sigmoid(self.module(x)).numpy().astype("float64")
                return pd.DataFrame({"prediction": (p >= 0.5).astype("int64"), "probability": p})

    finally:
        warnings.showwarning = show
    return Model(module, encoder)


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    ranks[order] = np.arange(1, len(p) + 1)
    _, inverse, counts = np.unique(p, return_inverse=True, return_counts=True)
    if (counts > 1).any():  # ties share their mean rank
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    pred = p > 0.5
    tp, fp, fn = int((pred & pos).sum()), int((pred & ~pos).sum()), int((~pred & pos).sum())
    q = np.clip(p, np.finfo(np.float64).eps, 1 - np.finfo(np.float64).eps)
    return {
        "roc_auc": (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg),
        "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0,
        "accuracy": float((pred == pos).mean()),
        "log_loss": float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))),
    }


def main(lake: Path) -> dict:
    lake = lake.resolve()
    lake.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    times: dict[str, float] = {}
    path, version = data_prep(lake)
    times["data_prep"] = time.perf_counter() - t0
    trained = train(path, version)
    times["train"] = time.perf_counter() - t0 - sum(times.values())

    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # The CloudPickle advice on every log_model: we log our own object on purpose.
    logging.getLogger("mlflow.pyfunc").setLevel(logging.ERROR)
    uri = f"sqlite:///{lake}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient()
    found = client.get_experiment_by_name(EXPERIMENT)
    experiment = (
        found.experiment_id
        if found
        else client.create_experiment(EXPERIMENT, artifact_location=f"{lake}/_mlflow/artifacts")
    )
    model = pyfunc_model(trained["module"], trained["encoder"])
    example = trained["example"]
    pins = [
        f"{p}=={dist_version(p)}"
        for p in ("torch", "lightning", "numpy", "pandas", "pyarrow", "mlflow")
    ]
    with mlflow.start_run(experiment_id=experiment, run_name="train churn") as run:
        mlflow.log_params(
            {
                "model": "MLPClassifier",
                "task": "classification",
                "target": TARGET,
                "features": json.dumps(trained["columns"]),
                "param.hidden": HIDDEN,
                "param.lr": LR,
                "trainer.max_epochs": MAX_EPOCHS,
                "trainer.batch_size": BATCH,
                "trainer.seed": SEED,
                "trainer.precision": "32",
                "trainer.early_stopping": json.dumps({"monitor": "val_loss", "patience": 3}),
                "input.main.churn.features": version,
            }
        )
        for epoch, values in enumerate(trained["history"]):
            mlflow.log_metrics(values, step=epoch)
        mlflow.log_metrics({"train_seconds": trained["seconds"], "epochs": trained["epochs"]})
        mlflow.log_artifact(trained["checkpoint"], "checkpoints")
        shutil.rmtree(Path(trained["checkpoint"]).parent, ignore_errors=True)
        columns = trained["columns"]
        encoder = trained["encoder"]
        mlflow.log_dict({"stats": encoder.stats, "categories": encoder.categories}, "encoder.json")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=model,
                signature=infer_signature(example, model.predict(None, example)),
                input_example=example,
                pip_requirements=pins,
            )
        try:
            client.get_registered_model(MODEL)
        except mlflow.exceptions.MlflowException:
            client.create_registered_model(MODEL)
        new = int(client.create_model_version(MODEL, info.model_uri, run.info.run_id).version)
        times["register"] = time.perf_counter() - t0 - sum(times.values())

        # Evaluation: the registered version as a pyfunc on the test split.
        data = DeltaTable(path, version=version).to_pyarrow_dataset()
        test = data.to_table(filter=pc.field(SPLIT) == "test").drop_columns([SPLIT])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scorer = mlflow.pyfunc.load_model(f"models:/{MODEL}/{new}")
        scores = scorer.predict(test.select(columns).to_pandas())["probability"].to_numpy()
        test_metrics = metrics(test[TARGET].to_numpy().astype(np.float64), scores)
        mlflow.log_metrics({f"test_{k}": v for k, v in test_metrics.items()})
    times["evaluate"] = time.perf_counter() - t0 - sum(times.values())

    # Gates: roc_auc >= 0.75, and no worse than the champion (none on a new lake).
    try:
        champion = int(client.get_model_version_by_alias(MODEL, "champion").version)
    except mlflow.exceptions.MlflowException:
        champion = None
    passed = test_metrics["roc_auc"] >= 0.75
    if passed and champion is not None:
        old = client.get_model_version(MODEL, str(champion)).run_id
        passed = test_metrics["roc_auc"] >= client.get_run(old).data.metrics["test_roc_auc"]
    if passed:
        client.set_registered_model_alias(MODEL, "champion", str(new))

    # Batch scoring with the champion.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        champ = mlflow.pyfunc.load_model(f"models:/{MODEL}@champion")
    batch = DeltaTable(path).to_pyarrow_dataset().to_table().drop_columns([SPLIT])
    out = champ.predict(batch.select(columns).to_pandas())
    now = datetime.now(UTC)
    n = batch.num_rows
    scored = (
        batch.append_column("prediction", pa.array(out["prediction"].to_numpy()))
        .append_column("probability", pa.array(out["probability"].to_numpy()))
        .append_column("model_name", pa.array([MODEL] * n))
        .append_column("model_version", pa.array([new] * n, pa.int64()))
        .append_column("scored_at", pa.array([now] * n, pa.timestamp("us", tz="UTC")))
    )
    write_deltalake(str(lake / "main" / "churn" / "predictions"), scored, mode="overwrite")
    times["gates+batch"] = time.perf_counter() - t0 - sum(times.values())
    return {
        "epochs": trained["epochs"],
        "rows": trained["rows"],
        "version": new,
        "promoted": bool(passed),
        "metrics": {k: round(float(v), 4) for k, v in test_metrics.items()},
        "scored": n,
        "seconds": round(time.perf_counter() - t0, 2),
        "stages": {k: round(v, 2) for k, v in times.items()},
    }


if __name__ == "__main__":
    warnings.filterwarnings("ignore", category=UserWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    if len(sys.argv) != 2:
        sys.exit("usage: baseline_pipeline.py LAKE")
    print(json.dumps(main(Path(sys.argv[1]))), flush=True)
