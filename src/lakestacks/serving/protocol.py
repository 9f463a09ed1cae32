"""MLflow's scoring protocol: request bodies into typed Arrow tables, predictions into JSON.

Bodies are JSON with one of ``dataframe_split``, ``dataframe_records``, ``instances`` or
``inputs`` (and optional ``params``), or CSV with a header row. Each is checked against
the model signature here, so a bad request gets a 400 that names the field before any
model code runs.
"""

from __future__ import annotations

import io
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "ALL_FORMATS",
    "FORMATS",
    "BadRequest",
    "Outputs",
    "Parsed",
    "as_outputs",
    "parse_body",
    "predictions_json",
]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
ALL_FORMATS = (*FORMATS, "csv")
JSON, CSV = "application/json", "text/csv"


class BadRequest(Exception):
    """The request cannot be scored; ``str()`` says what and where, for the client."""

    status = 400
    code = "BAD_REQUEST"


class UnsupportedMediaType(BadRequest):
    """Neither JSON nor CSV."""

    status = 415
    code = "UNSUPPORTED_MEDIA_TYPE"


@dataclass(frozen=True)
class Parsed:
    """A request's rows as an Arrow table typed by the signature, and its params."""

    table: pa.Table
    params: dict[str, Any] | None


@dataclass(frozen=True)
class Outputs:
    """A model's outputs as equal-length columns; ``frame`` when the model returned a table
    (answered as records, MLflow's ``pandas_orient="records"``), else a plain list."""

    columns: dict[str, np.ndarray[Any, Any]]
    frame: bool

    def slice(self, start: int, stop: int) -> Outputs:
        """The outputs of rows ``start:stop``."""
        return Outputs({k: v[start:stop] for k, v in self.columns.items()}, self.frame)


def parse_body(
    body: bytes,
    content_type: str,
    schema: pa.Schema | None,
    formats: Sequence[str] = ALL_FORMATS,
) -> Parsed:
    """Parse a scoring request into a table of the signature's columns (others are dropped).

    ``formats`` are the bodies the endpoint's task kind accepts (MLflow's JSON keys, ``csv``).

    Raises:
        BadRequest: malformed body, unknown format, a missing column or a value of the wrong
            type, naming the field.
        UnsupportedMediaType: the content type is neither JSON nor CSV.

    Example:
        >>> parse_body(b'{"inputs": {"x": [1.5]}}', "application/json", None).table.num_rows
        1
    """
    mime, *options = content_type.split(";")
    mime = mime.strip().lower() or JSON
    charset = next(  # RFC 9110: `; charset=utf-8`, `; Charset="UTF-8"`, among other parameters
        (v.strip().strip('"').lower() for k, _, v in (o.partition("=") for o in options)
         if k.strip().lower() == "charset"),
        "",
    )  # fmt: skip
    if charset and charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"charset {charset!r} is not supported; send UTF-8")
    types = [JSON, CSV] if "csv" in formats else [JSON]
    if mime == CSV and CSV in types:
        return Parsed(_csv(body, schema), None)
    if mime != JSON:
        raise UnsupportedMediaType(
            f"content type {mime!r} is not supported; send {' or '.join(types)}"
        )
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise BadRequest(f"the body is not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise BadRequest(_one_of("the body is a JSON " + type(doc).__name__))
    allowed = [k for k in FORMATS if k in formats]
    keys = [k for k in allowed if k in doc]
    if len(keys) != 1:
        found = f"found {', '.join(keys)}" if keys else f"found keys {sorted(doc)[:5]}"
        raise BadRequest(_one_of(found, allowed))
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise BadRequest("'params' must be a JSON object")
    columns = _columns(keys[0], doc[keys[0]], schema)
    return Parsed(_table(columns, schema), params)


def _one_of(found: str, allowed: Sequence[str] = FORMATS) -> str:
    return f"send a JSON object with exactly one of {', '.join(allowed)} ({found})"


def _columns(key: str, data: Any, schema: pa.Schema | None) -> dict[str, list[Any]]:
    if key == "dataframe_split":
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise BadRequest("dataframe_split needs 'columns' and 'data' (a list of rows)")
        names = data.get("columns") or (schema.names if schema is not None else None)
        if not isinstance(names, list):
            raise BadRequest("dataframe_split.columns must list the column names")
        return _from_rows(data["data"], names, "dataframe_split.data")
    if isinstance(data, dict):  # columnar: {"x": [1, 2]} or one row {"x": 1}
        if not data:
            raise BadRequest(f"{key} is empty")
        lists = {k: v if isinstance(v, list) else [v] for k, v in data.items()}
        lengths = {len(v) for v in lists.values()}
        if len(lengths) > 1:
            raise BadRequest(f"{key}: the columns have different lengths {sorted(lengths)}")
        return lists
    if not isinstance(data, list):
        raise BadRequest(f"{key} must be a list of rows or an object of columns")
    if data and all(isinstance(r, dict) for r in data):
        return _from_records(data)
    if data and all(isinstance(r, list) for r in data) and schema is not None:
        return _from_rows(data, schema.names, key)
    raise BadRequest(
        f"{key} must be a list of objects ({{column: value}}) or of rows in the signature's "
        "column order"
    )


def _from_rows(rows: list[Any], names: Sequence[Any], where: str) -> dict[str, list[Any]]:
    width = len(names)
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            got = len(row) if isinstance(row, list) else type(row).__name__
            raise BadRequest(f"{where}[{i}] has {got} values for {width} columns")
    return {str(n): [row[j] for row in rows] for j, n in enumerate(names)}


def _from_records(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    return {n: [r.get(n) for r in records] for n in names}


# Schema metadata set (to b"true") for a model whose required columns refuse nulls: the
# nullable fields are the optional columns, which may be null or left out; the others need a
# value in every row. Without it a field's nullability says only whether it may be left out.
NULLS_REFUSED = b"lakestacks.nulls_refused"


def _table(columns: Mapping[str, list[Any]], schema: pa.Schema | None) -> pa.Table:
    if schema is None:
        try:
            return pa.table(dict(columns))
        except _CONVERT_ERRORS as err:
            raise BadRequest(f"the columns cannot be read as a table: {err}") from None
    arrays = []
    rows = len(next(iter(columns.values()))) if columns else 0
    refuse_nulls = (schema.metadata or {}).get(NULLS_REFUSED) == b"true"
    for f in schema:
        values = columns.get(f.name)
        if values is None:
            if not f.nullable:
                raise BadRequest(
                    f"missing column {f.name!r}; the model takes {', '.join(schema.names)}"
                )
            arrays.append(pa.nulls(rows, f.type))
            continue
        array = _array(f, values)
        if refuse_nulls and not f.nullable and array.null_count:
            row = pc.index(array.is_null(), True).as_py()
            raise BadRequest(
                f"column {f.name!r}, row {row}: null, but the model needs a value (it had none "
                "missing in training)"
            )
        arrays.append(array)
    fields = [f.with_nullable(True) for f in schema]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


# OverflowError: a JSON integer beyond int64 (orjson reads up to uint64).
_CONVERT_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    TypeError,
    OverflowError,
)


def _array(f: pa.Field, values: list[Any]) -> pa.Array:
    try:
        return _convert(f, values)
    except _CONVERT_ERRORS:
        pass
    for i, value in enumerate(values):  # the first bad value, for the message
        try:
            _convert(f, [value])
        except _CONVERT_ERRORS:
            raise BadRequest(
                f"column {f.name!r}, row {i}: expected {_type_name(f.type)}, got {_repr(value)}"
            ) from None
    raise BadRequest(f"column {f.name!r}: expected {_type_name(f.type)}")


def _convert(f: pa.Field, values: list[Any]) -> pa.Array:
    if pa.types.is_timestamp(f.type):
        return pa.array(values, pa.string()).cast(f.type)
    # Arrow would read true as 1 and truncate 2.5 to 2: refuse both.
    if pa.types.is_integer(f.type) and any(
        type(v) is bool or (type(v) is float and not v.is_integer()) for v in values
    ):
        raise TypeError(f.name)
    return pa.array(values, f.type)


# A value quoted in a message: bounded in depth and length (a 1000-deep list has no repr).
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 80, 80, 80
_repr = _REPR.repr


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_integer(t):
        return "an integer"
    if pa.types.is_floating(t):
        return "a number"
    if pa.types.is_string(t):
        return "a string"
    if pa.types.is_boolean(t):
        return "true or false"
    if pa.types.is_timestamp(t):
        return "an ISO-8601 timestamp"
    return str(t)


def _csv(body: bytes, schema: pa.Schema | None) -> pa.Table:
    import pyarrow.csv as pacsv

    # Timestamps are read as text and converted as JSON's are (Arrow's own would be datetimes).
    types = (
        {f.name: pa.string() if pa.types.is_timestamp(f.type) else f.type for f in schema}
        if schema is not None
        else None
    )
    try:
        table = pacsv.read_csv(
            io.BytesIO(body),
            # An empty field is a missing value, as MLflow reads CSV: for a required string
            # column that is a 400, not an empty category scored as unseen.
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
        names = table.column_names  # decoded here: a header that is not UTF-8 fails here
    except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError) as err:
        message = str(err).split("\n", 1)[0]
        raise BadRequest(f"the CSV cannot be read: {message}") from None
    seen: set[str] = set()  # a set: a 1 MB header can name hundreds of thousands of columns
    for i, name in enumerate(names):
        if not name.strip():
            raise BadRequest(f"the CSV header has an empty column name (column {i + 1})")
        if name in seen:
            raise BadRequest(f"the CSV header names column {name!r} twice")
        seen.add(name)
    if schema is None:
        return table
    return _table({n: table[n].to_pylist() for n in names}, schema)


def as_outputs(result: Any) -> Outputs:
    """A model's return value (DataFrame, mapping of columns, Series, array or list) as
    output columns."""
    if isinstance(result, dict):
        return Outputs({str(k): np.asarray(v) for k, v in result.items()}, True)
    if hasattr(result, "columns") and hasattr(result, "to_numpy"):
        return Outputs({str(c): result[c].to_numpy() for c in result.columns}, True)
    values = np.asarray(result.to_numpy() if hasattr(result, "to_numpy") else result)
    if values.ndim > 1:
        values = np.array(list(values), dtype=object) if values.shape[1] != 1 else values[:, 0]
    return Outputs({"prediction": values}, False)


def predictions_json(outputs: Outputs) -> bytes:
    """``{"predictions": ...}``: records when the model returned a table, else a list."""
    lists = {k: _plain(v) for k, v in outputs.columns.items()}
    if outputs.frame:
        names = list(lists)
        body: Any = [
            dict(zip(names, row, strict=True)) for row in zip(*lists.values(), strict=True)
        ]
    else:
        body = lists.get("prediction", [])
    return orjson.dumps({"predictions": body}, option=orjson.OPT_SERIALIZE_NUMPY)


def _plain(values: np.ndarray[Any, Any]) -> list[Any]:
    if values.dtype.kind == "f":
        return [None if v != v else v for v in values.tolist()]  # NaN is not JSON
    return list(values.tolist())
