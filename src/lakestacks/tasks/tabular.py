"""The tabular task kinds: binary classification and regression over a Delta table's
columns, with the built-in feature encoder and Lightning training."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from lakestacks.evaluation import (
    MetricFn,
    classification_curves,
    compute_metrics,
    regression_curves,
)
from lakestacks.spec import ResolvedStack
from lakestacks.training.features import encode_target

if TYPE_CHECKING:
    from lakestacks.registry import LoadedModel
    from lakestacks.tasks.kind import FittedModel

__all__ = ["TabularClassification", "TabularRegression"]

# MLflow's scoring protocol: every tabular body serving parses into the signature's columns.
_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs", "csv")


class _Tabular:
    name: Literal["classification", "regression"]
    output: str  # the pyfunc's column the metrics read
    request_formats = _FORMATS

    def fit(
        self,
        resolved: ResolvedStack,
        table_path: str,
        version: int,
        *,
        checkpoint_dir: str,
        progress: bool,
    ) -> tuple[FittedModel, dict[str, int]]:
        # Lightning and torch load here: validation and data prep never need them.
        from lakestacks.training import TabularDataModule, train

        spec = resolved.stack
        section = spec.training
        assert section is not None  # noqa: S101 - the caller checked
        module = TabularDataModule(
            table_path,
            target=section.target,
            task=self.name,
            features=section.features,
            exclude=[spec.data.split.by] if spec.data.split else [],
            version=version,
            batch_size=section.trainer.batch_size,
            seed=section.trainer.seed,
        )
        trained = train(
            section,
            module,
            search_path=resolved.search_path,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
        )
        return trained, dict(module.rows)

    def input_example(self, rows: pa.Table) -> Any:
        """Five rows, typed the way pandas will see real data.

        An integer column with nulls reaches pandas as float64; MLflow refuses float64 where
        the signature says long, so such columns are declared float64 from the start.
        """
        example = rows.slice(0, 5).to_pandas()
        nullable_ints = [
            c.name for c in rows.schema if pa.types.is_integer(c.type) and rows[c.name].null_count
        ]
        return example.astype(dict.fromkeys(nullable_ints, "float64"))

    def truth(self, test: pa.Table, target: str) -> npt.NDArray[np.float32]:
        return encode_target(test[target], self.name)

    def predictions(self, model: LoadedModel, test: pa.Table) -> npt.NDArray[np.float64]:
        out = model.predict(test.to_pandas())  # the model takes the columns of its signature
        values: npt.NDArray[np.float64] = out[self.output].to_numpy(dtype="float64")
        return values

    def metrics(
        self,
        names: Sequence[str],
        y_true: npt.NDArray[Any],
        y_pred: npt.NDArray[Any],
        custom: Mapping[str, MetricFn],
    ) -> dict[str, float]:
        return compute_metrics(names, y_true, y_pred, self.name, custom)

    def curves(self, y_true: npt.NDArray[Any], y_pred: npt.NDArray[Any]) -> dict[str, Any]:
        if self.name == "classification":
            return classification_curves(y_true, y_pred)
        return regression_curves(y_true, y_pred)


class TabularClassification(_Tabular):
    """Binary classification: a 0/1 or boolean target; metrics read P(class 1)."""

    name = "classification"
    output = "probability"


class TabularRegression(_Tabular):
    """Regression: a numeric target; metrics read the prediction."""

    name = "regression"
    output = "prediction"
