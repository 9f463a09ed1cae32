"""Feature and target encoding learned on the train split, saved beside the model.

:class:`FeatureEncoder` turns Arrow columns into one float32 matrix: numbers are
standardized with the train split's mean and standard deviation (missing values become the
train mean, so 0 after scaling), strings are one-hot encoded over the categories seen in
train. Everything runs column by column in pyarrow.compute and numpy, never row by row, and
the encoder is plain JSON so it can be logged with the model and rebuilt at serving time.

The encoder also records which columns had missing values in the train split
(:attr:`FeatureEncoder.optional`): only those are imputed by design, so the model's signature
marks them optional and serving and batch inference refuse a missing value anywhere else.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lakestacks.errors import UserError

__all__ = [
    "MAX_CATEGORIES",
    "EncodedColumn",
    "FeatureEncoder",
    "Task",
    "encode_target",
    "infer_task",
    "missing_mask",
]

Task = Literal["classification", "regression"]
Kind = Literal["numeric", "categorical"]

# One-hot beyond this many categories mostly adds noise and width; the rarest share a zero row.
MAX_CATEGORIES = 100

_FORMAT = 1  # bumped when to_dict's layout changes, so an old encoder fails loudly


@dataclass(frozen=True)
class EncodedColumn:
    """How one input column becomes output columns.

    Attributes:
        name: The input column.
        kind: ``numeric`` (one standardized output) or ``categorical`` (one-hot outputs).
        mean: The train mean of a numeric column; missing values are imputed with it.
        std: The train standard deviation of a numeric column (1 where it was 0 or undefined).
        categories: The one-hot categories of a categorical column, sorted.
    """

    name: str
    kind: Kind
    mean: float = 0.0
    std: float = 1.0
    categories: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """Output columns this column produces."""
        return 1 if self.kind == "numeric" else len(self.categories)

    @property
    def output_names(self) -> list[str]:
        """``name`` for a number, ``name=category`` per category for a string."""
        if self.kind == "numeric":
            return [self.name]
        return [f"{self.name}={c}" for c in self.categories]

    @functools.cached_property
    def value_set(self) -> pa.Array:
        """The categories as an Arrow array, built once (serving encodes every request)."""
        return pa.array(self.categories, pa.string())


def _is_numeric(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_decimal(kind)
    )


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_dictionary(kind)
    )


def _as_strings(column: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """A text or dictionary column as plain ``string``, the type categories are matched in."""
    if column.type == pa.string():
        return column
    try:
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise UserError(
            f"feature column {name!r} ({column.type}) cannot be read as text: {err}"
        ) from None


def _as_float(column: pa.ChunkedArray, name: str) -> npt.NDArray[np.float64]:
    """A numeric column as float64 with NaN for nulls (one vectorised cast, no Python loop)."""
    if not _is_numeric(column.type):
        raise UserError(
            f"feature column {name!r} is {column.type} but was numeric when the model was "
            "trained; cast it to a number before predicting"
        )
    # safe=False: int64 beyond 2**53 rounds instead of refusing; a feature needs no exactness.
    floats = pc.cast(column, pa.float64(), safe=False)
    return np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float64)


def _as_table(data: Any) -> pa.Table:
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "columns") and hasattr(data, "dtypes"):  # a pandas DataFrame, duck-typed
        return pa.Table.from_pandas(data, preserve_index=False)
    raise TypeError(f"expected a pyarrow Table or a pandas DataFrame, got {type(data).__name__}")


def missing_mask(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """Which values the encoder imputes: nulls, and NaN or infinite numbers.

    Example:
        >>> missing_mask(pa.array([1.0, None, float("nan"), 2.0])).tolist()
        [False, True, True, False]
    """
    mask = pc.is_null(column, nan_is_null=True)
    if pa.types.is_floating(column.type):
        mask = pc.or_kleene(mask, pc.is_inf(column))  # a null is missing either way
    return np.asarray(mask.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _fit_column(column: pa.ChunkedArray, name: str) -> EncodedColumn:
    kind = column.type
    if _is_numeric(kind):
        values = _as_float(column, name)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            return EncodedColumn(name, "numeric")
        mean = float(finite.mean())
        std = float(finite.std())
        if not math.isfinite(std) or std == 0.0:
            std = 1.0
        return EncodedColumn(name, "numeric", mean=mean, std=std)
    if _is_text(kind):
        counts = pc.value_counts(_as_strings(column, name)).flatten()
        values, freq = counts[0], counts[1]
        keep = pc.is_valid(values)
        values, freq = values.filter(keep).to_pylist(), freq.filter(keep).to_pylist()
        # Most frequent first, ties by name so the choice is stable; then sorted for output.
        ranked = sorted(zip(values, freq, strict=True), key=lambda vf: (-vf[1], vf[0]))
        return EncodedColumn(
            name, "categorical", categories=tuple(sorted(v for v, _ in ranked[:MAX_CATEGORIES]))
        )
    raise UserError(
        f"feature column {name!r} has type {kind}, which cannot be a model input; convert it "
        "in the prep function (e.g. a timestamp to a number of days, a list to counts) or "
        "leave it out of training.features"
    )


@dataclass(frozen=True)
class FeatureEncoder:
    """Standardizes numeric columns and one-hot encodes string columns, as learned on train.

    Build one with :meth:`fit` on the train split only, so validation and test rows never
    leak into the statistics; save it with :meth:`to_dict`.

    Example:
        >>> train = pa.table({"tenure": [1, 3, None], "contract": ["a", "b", "a"]})
        >>> encoder = FeatureEncoder.fit(train, ["tenure", "contract"])
        >>> encoder.output_names
        ['tenure', 'contract=a', 'contract=b']
        >>> encoder.transform(pa.table({"tenure": [2], "contract": ["z"]})).tolist()
        [[0.0, 0.0, 0.0]]
    """

    columns: tuple[EncodedColumn, ...] = field(default_factory=tuple)
    # A regression target's train mean and std: models learn the standardized target (an
    # MLP on prices in the hundreds barely moves in a few epochs) and predictions are
    # scaled back. None for classification.
    target: tuple[float, float] | None = None
    # The columns with a missing value (null, NaN) in the train split: imputed by design, so
    # optional in the model's signature; the others need a value. None for an encoder saved
    # before this was recorded: every column is imputed, as it was then.
    optional: frozenset[str] | None = None

    def with_target(self, y: npt.NDArray[np.float32]) -> FeatureEncoder:
        """This encoder, also standardizing a regression target as learned from ``y``."""
        std = float(y.std())  # a constant target keeps its scale: nothing to divide by
        return replace(self, target=(float(y.mean()), std if std > 0 else 1.0))

    def scale_target(self, y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The target as the model learns it."""
        if self.target is None:
            return y
        mean, std = self.target
        return ((y - mean) / std).astype(np.float32)

    def unscale_target(self, y: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """A model's output back in the target's units."""
        if self.target is None:
            return y
        mean, std = self.target
        return (y * std + mean).astype(np.float32)

    @classmethod
    def fit(cls, table: pa.Table, columns: Sequence[str]) -> FeatureEncoder:
        """Learn the encoding of ``columns`` from ``table`` (the train split).

        Raises:
            UserError: a column is missing, or of a type a model cannot take (timestamps,
                lists, binary): convert it in the prep function.
        """
        _check_columns(table, columns)
        optional = frozenset(n for n in columns if missing_mask(table[n]).any())
        return cls(tuple(_fit_column(table[name], name) for name in columns), optional=optional)

    @property
    def feature_columns(self) -> list[str]:
        """The input columns, in order."""
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        """The input columns that had no missing value in train, in order (every column for
        an encoder saved before :attr:`optional` was recorded)."""
        optional = self.optional or frozenset()
        return [c.name for c in self.columns if c.name not in optional]

    @property
    def n_outputs(self) -> int:
        """Width of the matrix :meth:`transform` returns."""
        return sum(c.width for c in self.columns)

    @property
    def output_names(self) -> list[str]:
        """A name per output column, e.g. ``tenure`` or ``contract=one-year``."""
        return [name for c in self.columns for name in c.output_names]

    def transform(self, data: pa.Table | Any) -> npt.NDArray[np.float32]:
        """Encode ``data`` (an Arrow table or a pandas DataFrame) as a float32 matrix.

        Missing numbers become 0 (the train mean, standardized); unseen or missing
        categories become all-zero. Extra columns are ignored; an :attr:`optional` column
        left out is read as all missing (MLflow's loader drops an absent optional column).

        Raises:
            UserError: a feature column is missing or of the wrong type.

        Example:
            >>> enc = FeatureEncoder.fit(pa.table({"x": [0.0, 2.0]}), ["x"])
            >>> enc.transform(pa.table({"x": [4.0]})).tolist()
            [[3.0]]
        """
        if not isinstance(data, pa.Table | pa.RecordBatch) and hasattr(data, "columns"):
            # Convert only the feature columns of a DataFrame, not the whole frame.
            have = set(data.columns)
            _check_columns_in(have, self.required_columns)
            data = data[[n for n in self.feature_columns if n in have]]
        table = _as_table(data)
        _check_columns(table, self.required_columns)
        out = np.zeros((table.num_rows, self.n_outputs), dtype=np.float32)
        at = 0
        for col in self.columns:
            if col.name in table.column_names:
                column = table[col.name]
            else:  # an optional column left out: all missing
                column = pa.chunked_array([pa.nulls(table.num_rows)])
            if pa.types.is_null(column.type):  # all None, as pandas hands it over
                column = column.cast(pa.float64() if col.kind == "numeric" else pa.string())
            if col.kind == "numeric":
                values = _as_float(column, col.name)
                scaled = (values - col.mean) / col.std
                scaled[~np.isfinite(values)] = 0.0
                out[:, at] = scaled
            elif col.categories:
                if not _is_text(column.type):
                    raise UserError(
                        f"feature column {col.name!r} is {column.type} but was text when "
                        "the model was trained; cast it to a string before predicting"
                    )
                index = pc.index_in(_as_strings(column, col.name), value_set=col.value_set)
                codes = np.asarray(index.fill_null(-1).to_numpy(), dtype=np.int64)
                rows = np.flatnonzero(codes >= 0)
                out[rows, at + codes[rows]] = 1.0
            at += col.width
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description that :meth:`from_dict` rebuilds exactly.

        Example:
            >>> enc = FeatureEncoder.fit(pa.table({"x": [1.0, 2.0]}), ["x"])
            >>> FeatureEncoder.from_dict(enc.to_dict()) == enc
            True
        """
        columns: list[dict[str, Any]] = []
        for c in self.columns:
            if c.kind == "numeric":
                columns.append({"name": c.name, "kind": c.kind, "mean": c.mean, "std": c.std})
            else:
                columns.append({"name": c.name, "kind": c.kind, "categories": list(c.categories)})
        out: dict[str, Any] = {"format": _FORMAT, "columns": columns}
        if self.target is not None:
            out["target"] = {"mean": self.target[0], "std": self.target[1]}
        if self.optional is not None:
            out["optional"] = [n for n in self.feature_columns if n in self.optional]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureEncoder:
        """Rebuild an encoder from :meth:`to_dict`'s output.

        Raises:
            ValueError: ``data`` is not an encoder description this version can read.
        """
        if data.get("format") != _FORMAT:
            raise ValueError(f"unknown feature encoder format {data.get('format')!r}")
        columns = []
        for c in data["columns"]:
            if c["kind"] == "numeric":
                columns.append(
                    EncodedColumn(c["name"], "numeric", mean=float(c["mean"]), std=float(c["std"]))
                )
            elif c["kind"] == "categorical":
                columns.append(
                    EncodedColumn(c["name"], "categorical", categories=tuple(c["categories"]))
                )
            else:
                raise ValueError(f"unknown column kind {c['kind']!r} in feature encoder")
        target = data.get("target")
        scale = (float(target["mean"]), float(target["std"])) if target else None
        optional = data.get("optional")  # absent before it was recorded: impute every column
        return cls(tuple(columns), scale, None if optional is None else frozenset(optional))


def _check_columns(table: pa.Table, columns: Sequence[str]) -> None:
    _check_columns_in(set(table.column_names), columns)


def _check_columns_in(have: set[str], columns: Sequence[str]) -> None:
    missing = [n for n in columns if n not in have]
    if missing:
        raise UserError(f"the data has no feature column(s) {', '.join(missing)}")


def encode_target(column: pa.Array | pa.ChunkedArray, task: Task) -> npt.NDArray[np.float32]:
    """The target as a float32 vector: 0/1 for classification, the value for regression.

    Raises:
        UserError: the target has nulls, is not 0/1 or bool for classification, or is not
            numeric for regression.

    Example:
        >>> encode_target(pa.array([True, False]), "classification").tolist()
        [1.0, 0.0]
    """
    if column.null_count:
        raise UserError(
            f"the target has {column.null_count} null value(s); drop or fill them in the "
            "prep function"
        )
    kind = column.type
    if task == "classification":
        if pa.types.is_boolean(kind) or pa.types.is_integer(kind):
            seen = pc.unique(column)
            if pa.types.is_boolean(kind) or pc.all(pc.is_in(seen, pa.array([0, 1], kind))).as_py():
                return _to_float32(column)
        else:
            seen = pc.unique(column)
        shown = sorted(map(str, seen.slice(0, 10).to_pylist()))
        more = ", ..." if len(seen) > 10 else ""
        raise UserError(
            f"a classification target must be 0/1 or bool; this one is {kind} with values "
            f"{', '.join(shown)}{more}; map it to 0/1 in the prep function"
        )
    if not _is_numeric(kind):
        raise UserError(f"a regression target must be numeric; this one is {kind}")
    values = _to_float32(column)
    bad = int(np.count_nonzero(~np.isfinite(values)))
    if bad:
        raise UserError(f"the target has {bad} NaN or infinite value(s); drop them in prep")
    return values


def _to_float32(column: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.float32]:
    floats = pc.cast(column, pa.float32(), safe=False)
    values = np.asarray(floats.to_numpy(zero_copy_only=False), dtype=np.float32)
    # A zero-copy view of Arrow memory is read-only; torch.from_numpy wants it writable.
    return values if values.flags.writeable else values.copy()


def infer_task(model_cls_or_module: Any, requested: str) -> Task:
    """The task: ``requested`` unless ``auto``; then classification if the model has
    ``predict_proba``, else regression.

    Example:
        >>> class Clf:
        ...     def predict_proba(self, x): ...
        >>> infer_task(Clf, "auto"), infer_task(Clf, "regression")
        ('classification', 'regression')
    """
    if requested == "classification":
        return "classification"
    if requested == "regression":
        return "regression"
    if requested != "auto":
        raise ValueError(f"task must be auto, classification or regression (got {requested!r})")
    has_proba = callable(getattr(model_cls_or_module, "predict_proba", None))
    return "classification" if has_proba else "regression"
