"""The ``training`` section: the model, its target and features, and the Lightning trainer."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from lakestacks.spec._base import Column, Name, Ref, SpecModel
from lakestacks.spec.plugins import one_of, task_names

__all__ = ["EarlyStopping", "TrainerSpec", "TrainingSection"]

PRECISIONS = ("32", "32-true", "64", "64-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true")


def _precision_as_text(value: Any) -> Any:
    # YAML reads `precision: 32` as an int; Lightning takes "32" too.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _known_task(value: str) -> str:
    return one_of(value, ["auto", *task_names()])


def _check_devices(value: Any) -> Any:
    if value == "auto":
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(
                f"devices must be 'auto', a count of 1 or more, or a list of ids (got {value})"
            )
        return value
    if isinstance(value, list) and value and all(isinstance(v, int) and v >= 0 for v in value):
        return value
    raise ValueError(
        f"devices must be 'auto', a count of 1 or more, or a list of device ids (got {value!r})"
    )


class EarlyStopping(SpecModel):
    """Stop training when a validation metric stops improving."""

    monitor: str = Field("val_loss", min_length=1, description="The logged metric to watch.")
    patience: int = Field(
        3, ge=1, le=1000, description="Epochs without improvement before stopping."
    )
    mode: Literal["min", "max"] = Field("min", description="Whether lower or higher is better.")
    min_delta: float = Field(
        0.0, ge=0, description="The smallest change that counts as improvement."
    )


class TrainerSpec(SpecModel):
    """The Lightning trainer: accelerator, devices, precision, epochs, early stopping."""

    max_epochs: int = Field(10, ge=1, le=100_000, description="Epochs to train, 1 or more.")
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = Field(
        "auto", description="'auto' picks the GPU when there is one, else the CPU."
    )
    devices: Annotated[int | str | list[int], BeforeValidator(_check_devices)] = Field(
        "auto", description="'auto', a device count, or a list of device ids."
    )
    precision: Annotated[
        Literal[PRECISIONS],  # type: ignore[valid-type]
        BeforeValidator(_precision_as_text, json_schema_input_type=Literal[(*PRECISIONS, 32, 64)]),
    ] = Field("32", description="Numeric precision, e.g. 32, 16-mixed, bf16-mixed.")
    batch_size: int = Field(256, ge=1, le=1_000_000, description="Rows per training batch.")
    early_stopping: EarlyStopping | None = Field(None, description="Stop early on a plateau.")
    seed: int = Field(0, ge=0, description="Random seed for weights and shuffling.")


class TrainingSection(SpecModel):
    """What to train: a model class, the target column and its features."""

    model: Ref = Field(
        description="A LightningModule 'module:Class', e.g. "
        "'lakestacks.training.tabular:MLPClassifier'."
    )
    table: Name | None = Field(
        None, description="The split table to train on; default: the split's."
    )
    target: Column = Field(description="The column to predict.")
    task: Annotated[str, AfterValidator(_known_task)] = Field(
        "auto",
        description="A task kind, e.g. 'classification' or 'regression'; 'auto': "
        "classification when the model has predict_proba, else regression.",
    )
    features: list[Column] | None = Field(
        None, description="Feature columns; default: every column but the target and the split key."
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the model class."
    )
    trainer: TrainerSpec = Field(
        default_factory=TrainerSpec, description="Lightning trainer settings."
    )
    experiment: Name | None = Field(None, description="MLflow experiment; default: the stack name.")
