"""The built-in MLPs as plain numpy: a bundle saved beside the MLflow model, scored without torch.

Serving a built-in model through its pyfunc means importing torch and MLflow (~400 MB and
several seconds before the first answer). A stack of ``Linear``/``ReLU``/``Dropout`` layers
is a few matrix products, so :func:`save_bundle` writes the weights (``weights.npz``) and
the encoder (``model.json``) and :class:`PortablePredictor` scores them with numpy alone,
with the pyfunc's semantics: the same encoder, the same output columns. A model this module
cannot express (a user's class, another layer type) gets no bundle and is served by its
pyfunc.

This module imports neither torch nor Lightning: exporting reads the weights through the
module object it is given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lakestacks.training.features import FeatureEncoder, Task

__all__ = ["PortablePredictor", "export_layers", "save_bundle"]

_FORMAT = 1
_MODEL = "model.json"
_WEIGHTS = "weights.npz"


def export_layers(module: Any) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
    """The (weight, bias) of each linear layer of a built-in MLP, or [] when ``module`` is
    not one whose scores numpy reproduces: a subclass that changes ``forward`` or
    ``predict_proba``, or a network with layers other than Linear, ReLU and Dropout."""
    from torch import nn

    from lakestacks.training.tabular import MLPClassifier, _TabularMLP

    kind = type(module)
    if not isinstance(module, _TabularMLP) or kind.forward is not _TabularMLP.forward:
        return []
    if isinstance(module, MLPClassifier) and kind.predict_proba is not MLPClassifier.predict_proba:
        return []
    layers = list(module.net)
    linear = [m for m in layers if isinstance(m, nn.Linear)]
    plain = all(isinstance(m, nn.Linear | nn.ReLU | nn.Dropout) for m in layers)
    # ReLU after every linear layer but the last, as _mlp builds it.
    relus = [i for i, m in enumerate(layers) if isinstance(m, nn.ReLU)]
    shaped = len(relus) == len(linear) - 1 and isinstance(layers[-1], nn.Linear)
    if not (plain and shaped and linear[-1].out_features == 1):
        return []
    return [
        (
            m.weight.detach().cpu().float().numpy().T.copy(),
            m.bias.detach().cpu().float().numpy().copy(),
        )
        for m in linear
    ]


def save_bundle(
    folder: str | Path,
    layers: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
    encoder: FeatureEncoder,
    task: str,
) -> Path:
    """Write a bundle of ``layers`` (from :func:`export_layers`) and ``encoder`` to
    ``folder``; returns the folder."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{i}": w for i, (w, _) in enumerate(layers)}
    arrays |= {f"b{i}": b for i, (_, b) in enumerate(layers)}
    np.savez(out / _WEIGHTS, **arrays)  # type: ignore[arg-type]
    meta = {"format": _FORMAT, "task": task, "layers": len(layers), "encoder": encoder.to_dict()}
    (out / _MODEL).write_text(json.dumps(meta))
    return out


class PortablePredictor:
    """A bundle loaded for scoring: :meth:`predict` gives what the pyfunc's predictor gives.

    Example:
        >>> predictor = PortablePredictor.load(bundle_folder)  # doctest: +SKIP
        >>> predictor.predict(table)  # doctest: +SKIP
        array([0.12, 0.87], dtype=float32)
    """

    def __init__(
        self,
        layers: list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]],
        encoder: FeatureEncoder,
        task: Task,
    ) -> None:
        self.layers = layers
        self.encoder = encoder
        self.task: Task = task

    @classmethod
    def load(cls, folder: str | Path) -> PortablePredictor:
        """Read a bundle :func:`save_bundle` wrote.

        Raises:
            ValueError: not a bundle this version can read (a missing file, another format,
                weights that do not chain).
            OSError: the files cannot be read.
        """
        root = Path(folder)
        meta = json.loads((root / _MODEL).read_text())
        tasks = ("classification", "regression")
        if meta.get("format") != _FORMAT or meta.get("task") not in tasks:
            raise ValueError(f"{root} is not a portable model bundle this version reads")
        with np.load(root / _WEIGHTS, allow_pickle=False) as saved:
            layers = [
                (saved[f"w{i}"].astype(np.float32), saved[f"b{i}"].astype(np.float32))
                for i in range(int(meta["layers"]))
            ]
        encoder = FeatureEncoder.from_dict(meta["encoder"])
        width = encoder.n_outputs
        for w, b in layers:
            if w.ndim != 2 or w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError(f"{root}: the weights do not chain from {width} inputs")
            width = w.shape[1]
        if not layers or width != 1:
            raise ValueError(f"{root}: the network does not end in one output")
        return cls(layers, encoder, meta["task"])

    @property
    def feature_columns(self) -> list[str]:
        """The input columns, in order."""
        return self.encoder.feature_columns

    def predict(self, data: Any) -> npt.NDArray[np.float32]:
        """P(y=1) per row for classification, the predicted value for regression.

        Raises:
            UserError: a feature column is missing or of the wrong type.
        """
        x = self.encoder.transform(data)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < last:
                np.maximum(x, 0.0, out=x)
        scores = x[:, 0]
        if self.task == "classification":
            # A stable sigmoid: exp of a large positive logit would overflow.
            e = np.exp(-np.abs(scores))
            return np.where(scores >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(np.float32)
        return self.encoder.unscale_target(scores.astype(np.float32))

    def outputs(self, data: Any) -> dict[str, npt.NDArray[Any]]:
        """The pyfunc's output columns: ``prediction`` (and ``probability`` for a classifier)."""
        scores = self.predict(data)
        if self.task == "classification":
            return {
                "prediction": (scores >= 0.5).astype(np.int64),
                "probability": scores.astype(np.float64),
            }
        return {"prediction": scores.astype(np.float64)}
