"""A Lightning data module over a split Delta table, with a batch loader that keeps up.

The module reads only the feature, target and ``_split`` columns at one pinned table
version, learns the :class:`~lakestacks.training.features.FeatureEncoder` on the train split
and holds each split as two tensors. Batches are slices of those tensors: the default
per-row ``TensorDataset`` + collate path costs more than a small MLP's step on CPU.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
import pyarrow.compute as pc
import torch
from torch.utils.data import DataLoader, IterableDataset

from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_info
from lakestacks.errors import UserError
from lakestacks.training.features import FeatureEncoder, Task, encode_target

__all__ = ["TabularBatches", "TabularDataModule", "batch_loader"]

Batch = tuple[torch.Tensor, torch.Tensor]


class TabularBatches(IterableDataset[Batch]):
    """Yields ``(x, y)`` batches as slices of two tensors, shuffled per epoch if asked.

    Each iteration is one epoch. Shuffling draws from a generator seeded with
    ``seed + epoch``, so the order depends only on the seed and the epoch number.

    Example:
        >>> batches = TabularBatches(torch.zeros(5, 2), torch.zeros(5), batch_size=2)
        >>> [len(y) for _, y in batches]
        [2, 2, 1]
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        *,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be 1 or more (got {batch_size})")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.epoch = 0

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        n, size = len(self.y), self.batch_size
        if not self.shuffle:
            # Contiguous slices are views: no copy at all.
            for start in range(0, n, size):
                yield self.x[start : start + size], self.y[start : start + size]
            return
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        self.epoch += 1
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, size):
            idx = order[start : start + size]
            yield self.x[idx], self.y[idx]


def batch_loader(
    x: torch.Tensor, y: torch.Tensor, *, batch_size: int, shuffle: bool = False, seed: int = 0
) -> DataLoader[Batch]:
    """A DataLoader Lightning accepts, over :class:`TabularBatches` (already batched).

    Example:
        >>> loader = batch_loader(torch.zeros(10, 3), torch.zeros(10), batch_size=4)
        >>> len(loader)
        3
    """
    dataset = TabularBatches(x, y, batch_size=batch_size, shuffle=shuffle, seed=seed)
    # batch_size=None: items are whole batches; workers would only add IPC for in-memory data.
    return DataLoader(dataset, batch_size=None, num_workers=0)


@dataclass(frozen=True)
class _Loaded:
    version: int
    features: list[str]
    encoder: FeatureEncoder
    tensors: dict[str, Batch]


class TabularDataModule(pl.LightningDataModule):
    """Train and validation splits of a Delta table as encoded tensors.

    The table is read on the first :meth:`setup` (or the first use of a property that
    needs the data), at ``version`` or the version current then, so every split comes from
    the same snapshot. ``features=None`` takes every column but the target, ``_split`` and
    ``exclude`` (pass the split key there: an ID is no feature).

    Example:
        >>> dm = TabularDataModule("/lake/churn/customers", target="churned",
        ...                        task="classification", exclude=["customer_id"])  # doctest: +SKIP
        >>> dm.setup("fit"); dm.n_features, dm.rows  # doctest: +SKIP
        (17, {'train': 14012, 'validation': 1985})
    """

    def __init__(
        self,
        table_path: str,
        *,
        target: str,
        task: Task,
        features: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        version: int | None = None,
        batch_size: int = 256,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if task not in ("classification", "regression"):
            raise ValueError(f"task must be classification or regression (got {task!r})")
        self.table_path = table_path
        self.target = target
        self.task: Task = task
        self._features = None if features is None else list(features)
        self._exclude = set(exclude)
        self._version = version
        self.batch_size = batch_size
        self.seed = seed
        self._loaded: _Loaded | None = None

    # --- what setup learned --------------------------------------------------------------
    @property
    def version(self) -> int:
        """The table version the data was read at."""
        return self._load().version

    @property
    def encoder(self) -> FeatureEncoder:
        """The encoder fitted on the train split."""
        return self._load().encoder

    @property
    def feature_columns(self) -> list[str]:
        """The input columns, in table order (or the order given)."""
        return list(self._load().features)

    @property
    def n_features(self) -> int:
        """Width of the encoded matrix: the model's ``n_features``."""
        return self.encoder.n_outputs

    @property
    def rows(self) -> dict[str, int]:
        """Rows per split read: ``train`` and ``validation``."""
        return {split: len(y) for split, (_, y) in self._load().tensors.items()}

    def tensors(self, split: str) -> Batch:
        """The encoded ``(x, y)`` of ``train`` or ``validation``."""
        return self._load().tensors[split]

    # --- Lightning hooks -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        """Read and encode the data; later calls reuse it."""
        self._load()

    def train_dataloader(self) -> DataLoader[Batch]:
        """Shuffled train batches; a new loader restarts the epoch count, so refits repeat."""
        x, y = self.tensors("train")
        return batch_loader(x, y, batch_size=self.batch_size, shuffle=True, seed=self.seed)

    def val_dataloader(self) -> DataLoader[Batch]:
        """Validation batches in table order."""
        x, y = self.tensors("validation")
        return batch_loader(x, y, batch_size=self.batch_size)

    # --- reading -------------------------------------------------------------------------
    def _load(self) -> _Loaded:
        if self._loaded is not None:
            return self._loaded
        path = self.table_path
        # Pin the version first so the schema and both splits come from one snapshot.
        version = table_info(path).version if self._version is None else self._version
        # An always-false filter reads the schema without reading any rows.
        schema = read_table(path, version=version, filter=pc.scalar(False)).schema
        names = schema.names
        if self.target not in names:
            columns = [n for n in names if n != SPLIT_COLUMN]
            close = difflib.get_close_matches(self.target, columns, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(
                f"target column {self.target!r} is not in table {_catalog_name(path)}{hint}; "
                f"its columns: {', '.join(columns)}"
            )
        if SPLIT_COLUMN not in names:
            raise UserError(f"table {path} has no {SPLIT_COLUMN} column; give the data a split")
        features = self._resolve_features(names)
        columns = [*features, self.target, SPLIT_COLUMN]
        table = read_table(
            path,
            version=version,
            columns=columns,
            filter=pc.field(SPLIT_COLUMN).isin(["train", "validation"]),
        )
        split = table[SPLIT_COLUMN]
        parts = {s: table.filter(pc.equal(split, s)) for s in ("train", "validation")}
        for name, part in parts.items():
            if part.num_rows == 0:
                raise UserError(
                    f"{name} split of {path} is empty; set data.split.{name} > 0"
                    if name == "validation"
                    else f"train split of {path} is empty; lower data.split.test/validation"
                )
        encoder = FeatureEncoder.fit(parts["train"], features)
        targets = {n: encode_target(p[self.target], self.task) for n, p in parts.items()}
        if self.task == "regression":
            encoder = encoder.with_target(targets["train"])
        tensors = {}
        for name, part in parts.items():
            x = torch.from_numpy(encoder.transform(part))
            y = torch.from_numpy(encoder.scale_target(targets[name]))
            tensors[name] = (x, y)
        self._loaded = _Loaded(version, features, encoder, tensors)
        return self._loaded

    def _resolve_features(self, names: list[str]) -> list[str]:
        if self._features is None:
            skip = {self.target, SPLIT_COLUMN, *self._exclude}
            features = [n for n in names if n not in skip]
        else:
            features = self._features
            missing = [n for n in features if n not in names]
            if missing:
                raise UserError(
                    f"feature column(s) {', '.join(missing)} not in table "
                    f"{_catalog_name(self.table_path)}"
                )
            clash = {self.target, SPLIT_COLUMN} & set(features)
            if clash:
                raise UserError(
                    f"{', '.join(sorted(clash))} cannot be a feature (the target or the split)"
                )
        if not features:
            raise UserError(f"no feature columns left in {self.table_path} after exclusions")
        return features

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint records of the data: the version and the encoder."""
        if self._loaded is None:
            return {}
        return {"version": self._loaded.version, "encoder": self._loaded.encoder.to_dict()}


def _catalog_name(path: str) -> str:
    """A table's three-level catalog name from its path (``<lake>/<catalog>/<schema>/<t>``,
    as ``Catalog.table_path`` lays tables out)."""
    parts = path.rstrip("/").split("/")
    return ".".join(parts[-3:]) if len(parts) >= 3 else path
