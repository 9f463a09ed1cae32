"""Built-in tabular models: small MLPs for classification and regression.

They take a float feature matrix; feature normalization and categorical encodings are
learned by the data module on the train split and saved beside the model.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

__all__ = ["MLPClassifier", "MLPRegressor"]


def _mlp(n_features: int, hidden: int, layers: int, dropout: float, n_out: int) -> nn.Sequential:
    blocks: list[nn.Module] = []
    width = n_features
    for _ in range(layers):
        blocks += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
        width = hidden
    blocks.append(nn.Linear(width, n_out))
    return nn.Sequential(*blocks)


class _TabularMLP(pl.LightningModule):
    loss_fn: nn.Module

    def __init__(
        self,
        n_features: int,
        hidden: int = 64,
        layers: int = 2,
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        if n_features < 1 or hidden < 1 or layers < 0 or not 0 <= dropout < 1 or lr <= 0:
            raise ValueError(
                "MLP params: n_features and hidden >= 1, layers >= 0, 0 <= dropout < 1, lr > 0"
            )
        self.save_hyperparameters()
        self.net = _mlp(n_features, hidden, layers, dropout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)  # type: ignore[no-any-return]

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        loss: torch.Tensor = self.loss_fn(self(x), y.float())
        self.log(f"{stage}_loss", loss, prog_bar=False, on_epoch=True, on_step=False)
        return loss

    def training_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(
        self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int
    ) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )


class MLPClassifier(_TabularMLP):
    """Binary classifier: logits out, ``predict_proba`` gives P(y=1).

    Example:
        >>> model = MLPClassifier(n_features=4, hidden=8)
        >>> model.predict_proba(torch.zeros(2, 4)).shape
        torch.Size([2])
    """

    loss_fn = nn.BCEWithLogitsLoss()

    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """P(y=1) for each row of ``x``."""
        with torch.no_grad():
            return torch.sigmoid(self(x))


class MLPRegressor(_TabularMLP):
    """Regressor trained on mean squared error.

    Example:
        >>> MLPRegressor(n_features=3)(torch.zeros(5, 3)).shape
        torch.Size([5])
    """

    loss_fn = nn.MSELoss()
