"""The numpy bundle of the built-in MLPs scores exactly as the torch predictor, and refuses
what it cannot reproduce."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from lakestacks.training.features import FeatureEncoder
from lakestacks.training.portable import PortablePredictor
from lakestacks.training.tabular import MLPClassifier, MLPRegressor
from lakestacks.training.trainer import TabularPredictor


def _table(rows: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    tenure = rng.integers(0, 72, rows).astype(float)
    tenure[rng.random(rows) < 0.1] = np.nan
    return pa.table(
        {
            "tenure": pa.array(tenure, from_pandas=True),
            "charges": rng.normal(70, 30, rows),
            "contract": pa.array(
                [None if i % 17 == 0 else ["m", "y", "2y"][i % 3] for i in range(rows)]
            ),
        }
    )


def _predictor(module: torch.nn.Module, task: str, seed: int = 0) -> TabularPredictor:
    torch.manual_seed(seed)
    for p in module.parameters():
        torch.nn.init.normal_(p, std=0.5)
    train = _table(500, seed)
    encoder = FeatureEncoder.fit(train, ["tenure", "charges", "contract"])
    if task == "regression":
        encoder = encoder.with_target(np.array([100.0, 300.0, 250.0], dtype=np.float32))
    return TabularPredictor(module, encoder, task, encoder.feature_columns)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "task", "layers"),
    [
        (MLPClassifier, "classification", 2),
        (MLPClassifier, "classification", 0),
        (MLPRegressor, "regression", 3),
    ],
)
def test_the_bundle_scores_as_the_torch_predictor(
    tmp_path: Path, cls: type, task: str, layers: int
) -> None:
    predictor = _predictor(cls(n_features=5, hidden=16, layers=layers, dropout=0.2), task)
    assert predictor.save_portable(tmp_path / "bundle")
    portable = PortablePredictor.load(tmp_path / "bundle")
    rows = _table(3000, seed=1)
    expected = predictor.predict(rows)
    got = portable.predict(rows)
    assert got.dtype == np.float32
    # float32 sums in another order; a regressor's scale multiplies the difference.
    scale = predictor.encoder.target[1] if predictor.encoder.target else 1.0
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)
    out = portable.outputs(rows)
    if task == "classification":
        assert sorted(out) == ["prediction", "probability"]
        assert out["prediction"].dtype == np.int64
        assert (out["prediction"] == (expected >= 0.5)).all()
    else:
        assert sorted(out) == ["prediction"]


def test_extreme_logits_give_0_and_1_without_overflow(tmp_path: Path) -> None:
    predictor = _predictor(MLPClassifier(n_features=5, hidden=4, layers=1), "classification")
    with torch.no_grad():
        predictor.module.net[-1].bias.fill_(1e4)
    assert predictor.save_portable(tmp_path / "up")
    with torch.no_grad():
        predictor.module.net[-1].bias.fill_(-1e4)
    assert predictor.save_portable(tmp_path / "down")
    rows = _table(50, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        assert (PortablePredictor.load(tmp_path / "up").predict(rows) == 1.0).all()
        assert (PortablePredictor.load(tmp_path / "down").predict(rows) == 0.0).all()


class _Scaled(MLPClassifier):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) * 2


class _Logistic(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(5, 1)


def test_models_numpy_cannot_reproduce_get_no_bundle(tmp_path: Path) -> None:
    for module in (_Scaled(n_features=5), _Logistic()):
        predictor = _predictor(module, "classification")
        assert not predictor.save_portable(tmp_path / type(module).__name__)
        assert not (tmp_path / type(module).__name__).exists()
    tanh = MLPClassifier(n_features=5, layers=1)
    tanh.net[1] = torch.nn.Tanh()  # another activation than the one numpy applies
    assert not _predictor(tanh, "classification").save_portable(tmp_path / "tanh")


def test_a_damaged_bundle_is_refused_with_a_reason(tmp_path: Path) -> None:
    predictor = _predictor(MLPClassifier(n_features=5, hidden=8), "classification")
    bundle = tmp_path / "bundle"
    predictor.save_portable(bundle)
    meta = json.loads((bundle / "model.json").read_text())

    (bundle / "model.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="not a portable model bundle"):
        PortablePredictor.load(bundle)

    (bundle / "model.json").write_text(
        json.dumps(
            {**meta, "encoder": {**meta["encoder"], "columns": meta["encoder"]["columns"][:1]}}
        )
    )
    with pytest.raises(ValueError, match="do not chain"):
        PortablePredictor.load(bundle)

    (bundle / "model.json").write_text(json.dumps(meta))
    (bundle / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises((ValueError, OSError)):
        PortablePredictor.load(bundle)
