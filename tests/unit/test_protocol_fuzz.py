"""Fuzzing the scoring protocol's parser (issue 16, item 3): whatever a client sends,
`parse_body` answers a table or a `BadRequest` (a 4xx naming the problem), never another
exception (a 500 with a log full of tracebacks).

Hypothesis, bounded for CI: a fixed number of examples, derandomized (the same inputs on every
run), and no example database written into the checkout.
"""

from __future__ import annotations

import json
import string
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from lakestacks.serving.protocol import ALL_FORMATS, FORMATS, BadRequest, parse_body

# Hypothesis's caches (the example database is off) go to a temporary folder, not the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "lakestacks-hypothesis")

# A realistic signature: every type a tabular model takes, required and nullable columns.
SCHEMA = pa.schema(
    [
        pa.field("tenure", pa.int64(), nullable=False),
        pa.field("charges", pa.float64(), nullable=False),
        pa.field("contract", pa.string(), nullable=False),
        pa.field("senior", pa.bool_(), nullable=True),
        pa.field("signed_at", pa.timestamp("us"), nullable=True),
        pa.field("note", pa.string(), nullable=True),
        pa.field("small", pa.int32(), nullable=True),
    ]
)
SCHEMAS = st.sampled_from([SCHEMA, None])
FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

_NAMES = st.sampled_from([*SCHEMA.names, "", "x", "tenure ", "TENURE", "\x00", "é"])
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64 - 1)
    | st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64 - 1, -(2**63) - 1, 10**30])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(["2024-01-31T12:00:00", "2024-13-01", "1e400", "NaN", "", "true"])
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(_NAMES | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
_ROW = st.fixed_dictionaries(
    {}, optional=dict.fromkeys(SCHEMA.names, JSON_VALUES)
) | st.dictionaries(_NAMES, JSON_VALUES, max_size=5)
_PAYLOADS = (
    st.lists(_ROW, max_size=4)  # records
    | st.dictionaries(_NAMES, st.lists(_SCALARS, max_size=4) | _SCALARS, max_size=7)  # columns
    | st.lists(st.lists(_SCALARS, min_size=6, max_size=8), max_size=3)  # rows
    | st.fixed_dictionaries(
        {"data": st.lists(st.lists(_SCALARS, max_size=8) | JSON_VALUES, max_size=3)},
        optional={"columns": st.lists(_NAMES, max_size=8) | JSON_VALUES, "index": JSON_VALUES},
    )  # dataframe_split
    | JSON_VALUES
)
DOCUMENTS = (
    st.dictionaries(
        st.sampled_from([*FORMATS, "params", "columns", "data"]),
        _PAYLOADS,
        min_size=0,
        max_size=3,
    )
    | JSON_VALUES
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF8",
        'application/json; charset="utf-8"',
        "application/json; charset=latin-1",
        "APPLICATION/JSON ; foo=bar; charset=utf-8",
        "application/json;charset",
        "text/csv",
        "text/csv; charset=utf-8; header=present",
        "text/plain",
        "",
        ";",
        "multipart/form-data; boundary=x",
    ]
) | st.text(max_size=30)
FORMAT_SETS = st.sampled_from([ALL_FORMATS, FORMATS, ("inputs",), ("instances", "csv")])


def _parse(body: bytes, content_type: str, schema: pa.Schema | None, formats: Any) -> None:
    """Parse; a BadRequest is an answer, anything else raised is a bug."""
    try:
        parsed = parse_body(body, content_type, schema, formats)
    except BadRequest as bad:
        assert 400 <= bad.status < 500 and str(bad), repr(bad)
        assert len(str(bad)) < 2_000, "the message repeats the whole input"
        return
    if schema is not None:
        assert parsed.table.column_names == schema.names
        assert parsed.table.schema.types == schema.types
    assert parsed.params is None or isinstance(parsed.params, dict)


@FUZZ
@given(body=st.binary(max_size=300), content_type=CONTENT_TYPES, schema=SCHEMAS)
def test_arbitrary_bytes(body: bytes, content_type: str, schema: pa.Schema | None) -> None:
    _parse(body, content_type, schema, ALL_FORMATS)


@FUZZ
@given(doc=DOCUMENTS, schema=SCHEMAS, formats=FORMAT_SETS, content_type=CONTENT_TYPES)
def test_json_documents(
    doc: Any, schema: pa.Schema | None, formats: Any, content_type: str
) -> None:
    _parse(json.dumps(doc).encode(), content_type, schema, formats)


@settings(FUZZ, max_examples=40)  # each deep value takes Arrow a while to refuse
@given(
    key=st.sampled_from(FORMATS),
    column=st.sampled_from(SCHEMA.names),
    depth=st.sampled_from([100, 500, 1000, 1022]) | st.integers(min_value=1, max_value=1022),
    leaf=st.sampled_from(["1", '"a"', "null", "{}", "[]"]),
    schema=SCHEMAS,
)
def test_deep_nesting(
    key: str, column: str, depth: int, leaf: str, schema: pa.Schema | None
) -> None:
    """A value nested up to orjson's limit (1024 levels); deeper is invalid JSON."""
    deep = "[" * depth + leaf + "]" * depth
    body = f'{{"{key}": {{{json.dumps(column)}: [{deep}]}}}}'
    _parse(body.encode(), "application/json", schema, ALL_FORMATS)


@FUZZ
@given(
    doc=DOCUMENTS,
    cut=st.integers(min_value=0, max_value=400),
    splice=st.binary(max_size=4),
    schema=SCHEMAS,
)
def test_mangled_json(doc: Any, cut: int, splice: bytes, schema: pa.Schema | None) -> None:
    """Valid documents cut short or with bytes spliced in (invalid UTF-8, NULs, brackets)."""
    body = json.dumps(doc).encode()
    _parse(body[:cut] + splice + body[cut:], "application/json", schema, ALL_FORMATS)


_CELLS = st.text(alphabet=string.printable + "\x00é\ufeff\u2028", max_size=8) | st.sampled_from(
    ["1", "-3", "2.5", "1e400", "NaN", "true", "2024-01-31T12:00:00", "2024-01-31 12:00", '"', ""]
)


@FUZZ
@given(
    header=st.lists(_NAMES | st.text(max_size=5), max_size=8),
    rows=st.lists(st.lists(_CELLS, max_size=8), max_size=4),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
    head=st.binary(max_size=3),
    tail=st.binary(max_size=3),
    schema=SCHEMAS,
)
def test_csv_text(
    header: list[str], rows: list[list[str]], newline: str, bom: bool, head: bytes, tail: bytes,
    schema: pa.Schema | None,
) -> None:  # fmt: skip
    text = newline.join(",".join(cells) for cells in [header, *rows])
    body = ("\ufeff" if bom else "").encode() + head + text.encode("utf-8", "surrogatepass") + tail
    _parse(body, "text/csv", schema, ALL_FORMATS)


# What the fuzzing found, kept as plain cases (each raised something other than BadRequest).
_DEEP = b"[" * 1000 + b"1" + b"]" * 1000


@pytest.mark.parametrize(
    ("body", "content_type", "schema"),
    [
        (b'{"inputs": {"tenure": ' + _DEEP + b"}}", "application/json", SCHEMA),  # RecursionError
        (b'{"inputs": {"x": [1, 18446744073709551615]}}', "application/json", None),  # Overflow
        (b"\xff\xfe\n1\n", "text/csv", SCHEMA),  # UnicodeDecodeError
        (b"\xff\n\xfe\n", "text/csv", None),
    ],
)
def test_found_by_fuzzing(body: bytes, content_type: str, schema: pa.Schema | None) -> None:
    with pytest.raises(BadRequest):
        parse_body(body, content_type, schema)


def test_csv_timestamps_and_quoted_charsets_are_read() -> None:
    """Found by fuzzing too: valid requests that were refused."""
    csv = b"tenure,charges,contract,signed_at\n1,2.5,a,2024-01-31T12:00:00\n"
    table = parse_body(csv, "text/csv", SCHEMA).table
    assert table["signed_at"].to_pylist()[0].isoformat() == "2024-01-31T12:00:00"
    body = b'{"inputs": {"tenure": [1], "charges": [2.5], "contract": ["a"]}}'
    for content_type in (
        'application/json; charset="UTF-8"',
        "application/json; charset=utf-8; v=1",
    ):
        assert parse_body(body, content_type, SCHEMA).table.num_rows == 1
