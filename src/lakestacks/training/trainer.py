"""Train a stack's model: a quiet Lightning trainer, per-epoch metrics, a picklable predictor.

:func:`train` loads the model class the stack names, sizes it to the encoded features,
fits it on a :class:`~lakestacks.training.data.TabularDataModule` with the stack's trainer
settings, and returns the best checkpoint's weights with the encoder that feeds them.
:class:`TabularPredictor` bundles the two for scoring Arrow tables or DataFrames.
"""

from __future__ import annotations

import inspect
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import numpy.typing as npt
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities.model_helpers import is_overridden

from lakestacks.errors import UserError
from lakestacks.spec._refs import load_ref
from lakestacks.spec.training import TrainerSpec, TrainingSection
from lakestacks.training.data import TabularDataModule
from lakestacks.training.features import FeatureEncoder, Task, infer_task

__all__ = [
    "EpochMetrics",
    "MetricsSink",
    "TabularPredictor",
    "TrainedModel",
    "make_trainer",
    "quiet_lightning",
    "train",
]

MetricsSink = Callable[[dict[str, float], int], None]

_LOGGERS = ("lightning.pytorch", "lightning.fabric", "lightning")
# Advice aimed at notebook users, not at a pipeline that chose its loaders and devices.
_WARNINGS = (
    r".*LeafSpec.*",
    r".*does not have many workers.*",
    r".*available but not used.*",
    r".*GPU available but.*",
    r".*litmodels.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*smaller than the logging interval.*",
    r".*`IterableDataset` has `__len__` defined.*",
)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banners, tips and advisory warnings inside the block.

    Lightning's INFO lines (GPU/TPU availability, tips) and its data-loader advice are
    noise in a pipeline's log; real warnings and errors still show. Levels and filters are
    restored on exit.

    Example:
        >>> with quiet_lightning():
        ...     pass
    """
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _WARNINGS:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


class EpochMetrics(Callback):
    """Hands each epoch's metrics (``train_loss``, ``val_loss``, ...) to a sink.

    The sink is called once per epoch, after the train epoch and its validation, with the
    float metrics Lightning holds and the 0-based epoch number.

    Example:
        >>> seen = []
        >>> callback = EpochMetrics(lambda metrics, epoch: seen.append((epoch, metrics)))
    """

    def __init__(self, sink: MetricsSink) -> None:
        super().__init__()
        self.sink = sink

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Lightning runs the epoch's validation before this hook, so both are here."""
        if trainer.sanity_checking:
            return
        self.sink(_floats(trainer.callback_metrics), int(trainer.current_epoch))


def _floats(metrics: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            out[name] = float(value.item())
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def _on_gpu(accelerator: str) -> bool:
    if accelerator in ("gpu", "cuda", "mps"):
        return True
    return accelerator == "auto" and (
        torch.cuda.is_available() or torch.backends.mps.is_available()
    )


def make_trainer(
    spec: TrainerSpec,
    *,
    checkpoint_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    progress: bool = False,
) -> pl.Trainer:
    """A Lightning trainer for ``spec``: quiet, no logger, best ``val_loss`` checkpointed.

    ``devices: auto`` means one device: several would start DDP processes that re-run the
    whole command; ask for a count to use more. Deterministic algorithms are on for CPU
    runs; on a GPU they would need environment settings some kernels refuse, so GPU runs are
    seeded but not bit-exact.

    Example:
        >>> trainer = make_trainer(TrainerSpec(max_epochs=2), checkpoint_dir="/tmp/ckpt")
        >>> trainer.max_epochs
        2
    """
    checkpoint = ModelCheckpoint(
        dirpath=str(checkpoint_dir),
        filename="best",
        monitor="val_loss",
        mode="min",
        save_top_k=1,
        enable_version_counter=False,  # a rerun into the same folder replaces best.ckpt
    )
    extra: list[Callback] = [checkpoint]
    if spec.early_stopping is not None:
        stop = spec.early_stopping
        extra.append(
            EarlyStopping(
                monitor=stop.monitor,
                patience=stop.patience,
                mode=stop.mode,
                min_delta=stop.min_delta,
                verbose=False,
            )
        )
    with quiet_lightning():
        return pl.Trainer(
            accelerator=spec.accelerator,
            devices=1 if spec.devices == "auto" else spec.devices,
            precision=spec.precision,
            max_epochs=spec.max_epochs,
            callbacks=[*extra, *callbacks],
            default_root_dir=str(checkpoint_dir),
            logger=False,
            enable_model_summary=False,
            enable_progress_bar=progress,
            num_sanity_val_steps=0,
            log_every_n_steps=50,
            deterministic=not _on_gpu(spec.accelerator),
        )


class TabularPredictor:
    """A trained module and its encoder: scores rows of an Arrow table or a DataFrame.

    Picklable (with ``pickle`` or ``cloudpickle``) for packaging as an MLflow pyfunc; the
    module's class must be importable where it is unpickled.

    Example:
        >>> predictor = trained.predictor()  # doctest: +SKIP
        >>> predictor.predict(read_split(path, "test", predictor.feature_columns))  # doctest: +SKIP
        array([0.12, 0.87, ...], dtype=float32)
    """

    batch_rows = 65_536

    def __init__(
        self,
        module: torch.nn.Module,
        encoder: FeatureEncoder,
        task: Task,
        feature_columns: Sequence[str],
    ) -> None:
        self.module = module.cpu().eval()
        self.encoder = encoder
        # Plain str: registry's Predictor protocol declares a settable ``task: str``.
        self.task: str = task
        self.feature_columns = list(feature_columns)

    @property
    def optional_inputs(self) -> frozenset[str] | None:
        """The columns imputed by design (missing values in train); the others need a value.
        None for an encoder saved before that was recorded."""
        return self.encoder.optional

    def save_portable(self, folder: str | Path) -> bool:
        """Write the numpy bundle serving scores without torch (``training.portable``) to
        ``folder``; False, writing nothing, for a model numpy cannot reproduce."""
        from lakestacks.training.portable import export_layers, save_bundle

        layers = export_layers(self.module)
        if not layers:
            return False
        save_bundle(folder, layers, self.encoder, self.task)
        return True

    def predict(self, data: Any) -> npt.NDArray[np.float32]:
        """P(y=1) per row for classification, the predicted value for regression.

        Args:
            data: A ``pyarrow.Table`` or ``pandas.DataFrame`` with the feature columns (others
                are ignored).

        Raises:
            UserError: a feature column is missing or of the wrong type.
        """
        x = self.encoder.transform(data)
        module = self.module.cpu().eval()
        param = next(module.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        proba = getattr(module, "predict_proba", None)
        outputs: list[npt.NDArray[np.float32]] = []
        with torch.no_grad():
            for start in range(0, len(x), self.batch_rows):
                batch = torch.from_numpy(x[start : start + self.batch_rows]).to(dtype)
                if self.task == "classification":
                    out = proba(batch) if callable(proba) else torch.sigmoid(module(batch))
                else:
                    out = module(batch)
                out = out.float()
                if out.ndim == 2 and out.shape[1] == 1:
                    out = out.squeeze(1)
                outputs.append(out.numpy())
        if not outputs:
            return np.zeros(0, dtype=np.float32)
        scores = np.concatenate(outputs).astype(np.float32, copy=False)
        return scores if self.task == "classification" else self.encoder.unscale_target(scores)


@dataclass
class TrainedModel:
    """The outcome of :func:`train`: the best weights, how to feed them, and how it went.

    Attributes:
        module: The LightningModule with the best checkpoint's weights, on CPU, in eval mode.
        encoder: The feature encoder fitted on the train split.
        task: ``classification`` or ``regression``.
        feature_columns: The input columns the encoder reads.
        epochs_run: Epochs completed (fewer than ``max_epochs`` when stopped early).
        best_checkpoint: Path of the best checkpoint, or ``None`` if none was saved.
        best_val_loss: The best ``val_loss``, or ``None``.
        history: Per-epoch metrics, e.g. ``{"train_loss": 0.5, "val_loss": 0.48}``.
        device: Where it trained, e.g. ``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``.
    """

    module: pl.LightningModule
    encoder: FeatureEncoder
    task: Task
    feature_columns: list[str]
    epochs_run: int
    best_checkpoint: str | None
    best_val_loss: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"

    def artifacts(self) -> dict[str, Any]:
        """JSON artifacts logged beside the model: the fitted encoder."""
        return {"encoder.json": self.encoder.to_dict()}

    def predictor(self) -> TabularPredictor:
        """A picklable predictor over this model and its encoder.

        Example:
            >>> trained.predictor().predict(table)  # doctest: +SKIP
        """
        return TabularPredictor(self.module, self.encoder, self.task, self.feature_columns)


def _build_module(section: TrainingSection, cls: Any, n_features: int) -> pl.LightningModule:
    if not (isinstance(cls, type) and issubclass(cls, pl.LightningModule)):
        raise UserError(f"training.model {section.model} is not a LightningModule class")
    params = dict(section.params)
    if "n_features" in params:
        raise UserError(
            "training.params sets n_features; leave it out, it is the encoded feature count"
        )
    accepted = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    if "n_features" in accepted or takes_any:
        params = {"n_features": n_features, **params}
    try:
        module = cls(**params)
    except (TypeError, ValueError) as err:
        raise UserError(
            f"cannot build {section.model} with params {dict(section.params)}: {err}"
        ) from None
    if not is_overridden("validation_step", module, pl.LightningModule):
        raise UserError(
            f"{section.model} has no validation_step; add one that logs 'val_loss' "
            "(self.log('val_loss', loss)) so the best epoch can be chosen"
        )
    return module


def train(
    section: TrainingSection,
    datamodule: TabularDataModule,
    *,
    search_path: Sequence[str],
    checkpoint_dir: str | Path,
    on_epoch: MetricsSink | None = None,
    progress: bool = False,
) -> TrainedModel:
    """Fit the stack's model on ``datamodule`` and return the best epoch's weights.

    Seeds everything with ``section.trainer.seed`` first, so a rerun on CPU gives the
    same weights and predictions.

    Args:
        section: The stack's ``training`` section.
        datamodule: The split table; its task must agree with the section's.
        search_path: Folders searched first for the model's module (the stack's folder).
        checkpoint_dir: Where ``best.ckpt`` is written.
        on_epoch: Called with each epoch's metrics and its number, e.g. to log to MLflow.
        progress: Show Lightning's progress bar.

    Raises:
        UserError: the model cannot be loaded or built with the params, logs no
            ``val_loss``, or its task disagrees with the data module's.

    Example:
        >>> dm = TabularDataModule(path, target="churned", task="classification")  # doctest: +SKIP
        >>> trained = train(section, dm, search_path=["."], checkpoint_dir="ckpt")  # doctest: +SKIP
    """
    spec = section.trainer
    pl.seed_everything(spec.seed, workers=True, verbose=False)
    cls = load_ref(section.model, search_path)
    task = infer_task(cls, section.task)
    if task != datamodule.task:
        raise UserError(
            f"training.task resolves to {task} for {section.model}, but the data module "
            f"encodes the target for {datamodule.task}"
        )
    datamodule.setup("fit")
    module = _build_module(section, cls, datamodule.n_features)
    history: list[dict[str, float]] = []

    def sink(metrics: dict[str, float], epoch: int) -> None:
        history.append(metrics)
        if on_epoch is not None:
            on_epoch(metrics, epoch)

    # Lightning's deterministic mode flips a process-wide torch flag; put it back after.
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        with quiet_lightning():
            trainer = make_trainer(
                spec,
                checkpoint_dir=checkpoint_dir,
                callbacks=[EpochMetrics(sink)],
                progress=progress,
            )
            trainer.fit(module, datamodule=datamodule)
    except MisconfigurationException as err:
        # Lightning's own wording names the setting (a missing GPU, an unlogged metric).
        raise UserError(f"training {section.model} failed: {err}") from None
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)

    checkpoint = trainer.checkpoint_callback
    best_path: str | None = None
    best_loss: float | None = None
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
        best_path = checkpoint.best_model_path
        score = checkpoint.best_model_score
        best_loss = float(score) if score is not None else None
        state = torch.load(best_path, map_location="cpu", weights_only=True)
        module.load_state_dict(state["state_dict"])
    device = trainer.strategy.root_device
    where = str(device)
    if device.type == "cuda":
        where += f" ({torch.cuda.get_device_name(device)})"
    module = module.cpu().eval()
    return TrainedModel(
        module=module,
        encoder=datamodule.encoder,
        task=task,
        feature_columns=datamodule.feature_columns,
        epochs_run=int(trainer.current_epoch),
        best_checkpoint=best_path,
        best_val_loss=best_loss,
        history=history,
        device=where,
    )
