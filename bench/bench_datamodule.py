"""Training throughput: TabularDataModule over Delta vs the same tensors already in memory.

A short, full training run (200,000 generated customers split 70/10/20, MLPClassifier,
3 epochs, batch 256, CPU, validation every epoch):
- in-memory: the encoded train/validation tensors are built beforehand (not timed) and fed
  through the same batch loader to a trainer from ``make_trainer``;
- datamodule: ``train()`` with a fresh ``TabularDataModule``: reading the Delta table, the
  encoder fit and the encoding are all timed, as are seeding, model build and the reload
  of the best checkpoint.
Rate = train rows x epochs / seconds, median of BENCH_RUNS runs each, variants alternated
after one warm-up. Goal: datamodule reaches at least 0.9x the in-memory rate.

BENCH_ACCELERATOR (default ``cpu``) and BENCH_BATCH (default 256) measure other set-ups, e.g.
``BENCH_ACCELERATOR=gpu BENCH_BATCH=4096`` on a GPU machine.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

ROWS = int(os.environ.get("BENCH_ROWS", "200000"))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
EPOCHS = 3
ACCELERATOR = os.environ.get("BENCH_ACCELERATOR", "cpu")
BATCH = int(os.environ.get("BENCH_BATCH", "256"))
MODEL = "lakestacks.training.tabular:MLPClassifier"


def main() -> None:
    from lakestacks.data.generators import churn_customers
    from lakestacks.data.split import assign_split
    from lakestacks.data.tables import write_table
    from lakestacks.spec.training import TrainingSection
    from lakestacks.training.data import TabularDataModule, batch_loader
    from lakestacks.training.tabular import MLPClassifier
    from lakestacks.training.trainer import make_trainer, quiet_lightning, train

    section = TrainingSection.model_validate(
        {
            "model": MODEL,
            "target": "churned",
            "trainer": {"max_epochs": EPOCHS, "accelerator": ACCELERATOR, "batch_size": BATCH},
        }
    )
    spec = section.trainer

    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/customers"
        table = assign_split(churn_customers(n=ROWS, seed=11), "customer_id", 0.2, 0.1, seed=1)
        write_table(path, table)

        def module_run(run: int) -> float:
            start = time.perf_counter()
            dm = TabularDataModule(
                path,
                target="churned",
                task="classification",
                exclude=["customer_id"],
                batch_size=spec.batch_size,
                seed=spec.seed,
            )
            train(section, dm, search_path=[], checkpoint_dir=Path(tmp, f"dm{run}"))
            return time.perf_counter() - start

        reference = TabularDataModule(
            path, target="churned", task="classification", exclude=["customer_id"]
        )
        (x, y), (vx, vy) = reference.tensors("train"), reference.tensors("validation")
        n_features, train_rows = reference.n_features, len(y)

        def memory_run(run: int) -> float:
            start = time.perf_counter()
            import lightning.pytorch as pl

            pl.seed_everything(spec.seed, workers=True, verbose=False)
            module = MLPClassifier(n_features=n_features)
            with quiet_lightning():
                trainer = make_trainer(spec, checkpoint_dir=Path(tmp, f"mem{run}"))
                trainer.fit(
                    module,
                    batch_loader(x, y, batch_size=spec.batch_size, shuffle=True, seed=spec.seed),
                    batch_loader(vx, vy, batch_size=spec.batch_size),
                )
            return time.perf_counter() - start

        memory_run(-1)  # warm-up: first-use costs of torch and Lightning
        times: dict[str, list[float]] = {"memory": [], "datamodule": []}
        for run in range(RUNS):
            times["memory"].append(memory_run(run))
            times["datamodule"].append(module_run(run))

    seconds = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: train_rows * EPOCHS / s for k, s in seconds.items()}
    print(
        f"{ROWS:,} rows ({train_rows:,} train), {n_features} encoded features, {EPOCHS} epochs, "
        f"batch {spec.batch_size}, {ACCELERATOR}, median of {RUNS}"
    )
    print(f"{'variant':34} {'seconds':>8} {'samples/s':>10}")
    print(
        f"{'tensors in memory + batch loader':34} {seconds['memory']:8.2f} {rate['memory']:10,.0f}"
    )
    print(
        f"{'TabularDataModule (Delta+encode)':34} {seconds['datamodule']:8.2f} "
        f"{rate['datamodule']:10,.0f}"
    )
    print(f"ratio (datamodule / in-memory samples/s): {rate['datamodule'] / rate['memory']:.2f}")
    print("goal >= 0.9")


if __name__ == "__main__":
    main()
