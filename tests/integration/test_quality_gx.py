"""The data gate against real Great Expectations: the native evaluator agrees with GX on every
expectation it covers, GX runs the others, quietly, and draws the data-docs page."""

from __future__ import annotations

import math
import os
import re
import socket
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakestacks.quality import NATIVE, ValidationReport, validate, write_data_docs
from lakestacks.spec.data import Suite

pytestmark = pytest.mark.integration

N = 2000
CONTRACTS = ["month-to-month", "one-year", "two-year"]


def _table(seed: int = 7) -> pa.Table:
    """~2,000 rows with nulls, NaN and planted bad values in every kind of column."""
    rng = np.random.default_rng(seed)

    def holes(rate: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return np.asarray(rng.random(N) < rate)

    ids = np.arange(N, dtype=np.int64)
    ids[rng.integers(0, N, 5)] = ids[rng.integers(0, N, 5)]  # planted duplicates
    sparse = rng.permutation(N).astype(np.int64) * 1_000_003 - 10**9  # spread-out ints
    tenure = rng.integers(0, 121, N)
    tenure[rng.integers(0, N, 4)] = 999
    tenure[rng.integers(0, N, 3)] = -1
    charges = rng.normal(70, 20, N)
    charges[rng.integers(0, N, 20)] = np.nan  # NaN is missing for pandas, so for GX
    charges[rng.integers(0, N, 2)] = 0.0
    charges[rng.integers(0, N, 2)] = -0.0  # one value with 0.0 for pandas, two for Arrow hashes
    ratio = rng.random(N).astype(np.float32)
    contract = np.array([*CONTRACTS, "bogus"])[rng.choice(4, N, p=[0.4, 0.3, 0.29, 0.01])]
    codes = np.array([f"{a}{b}-{n:04d}" for a, b, n in zip(
        rng.choice(list("ABCD"), N), rng.choice(list("XYZ"), N), rng.integers(0, 10**4, N),
        strict=True,
    )], dtype=object)  # fmt: skip
    codes[rng.integers(0, N, 6)] = "ab-12"
    codes[rng.integers(0, N, 3)] = "AX-1234\n"  # $ before a final newline
    codes[rng.integers(0, N, 3)] = "ÄX-12٣4"  # a non-ASCII letter and digit
    grade = rng.integers(0, 6, N).astype(np.int8)
    return pa.table(
        {
            "id": ids,
            "sparse_id": sparse,
            "tenure": pa.array(tenure, mask=holes(0.03)),
            "charges": pa.array(charges, mask=holes(0.02)),
            "ratio": pa.array(ratio, mask=holes(0.05)),
            "contract": pa.array(contract, mask=holes(0.02)),
            "code": pa.array(codes, pa.string(), mask=holes(0.01)),
            "grade": pa.array(grade, mask=holes(0.1)),
            "segment": pa.array(rng.choice(["a", "b", "c"], N), mask=holes(0.2)),
            "nothing": pa.nulls(N, pa.float64()),
            "plan": pa.array(contract, mask=holes(0.05)).dictionary_encode(),  # from Parquet
        }
    )


COLUMNS = list(_table().column_names)

# (expectation, kwargs): every natively covered expectation, passing and failing variants.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("column_to_exist", {"column": "tenure"}),
    ("column_to_exist", {"column": "tenure", "column_index": 2}),
    ("column_to_exist", {"column": "tenure", "column_index": 3}),
    ("column_values_to_not_be_null", {"column": "id"}),
    ("column_values_to_not_be_null", {"column": "charges"}),
    ("column_values_to_not_be_null", {"column": "charges", "mostly": 0.95}),
    ("column_values_to_not_be_null", {"column": "nothing", "mostly": 0.5}),
    ("column_values_to_be_null", {"column": "nothing"}),
    ("column_values_to_be_null", {"column": "segment", "mostly": 0.1}),
    ("column_values_to_be_between", {"column": "tenure", "min_value": 0, "max_value": 120}),
    ("column_values_to_be_between", {"column": "tenure", "min_value": 0, "mostly": 0.99}),
    ("column_values_to_be_between", {"column": "tenure", "max_value": 120, "strict_max": True}),
    ("column_values_to_be_between",
     {"column": "charges", "min_value": 30.5, "max_value": 110, "strict_min": True}),
    ("column_values_to_be_between", {"column": "ratio", "min_value": 0.0, "max_value": 0.5}),
    ("column_values_to_be_between", {"column": "grade", "min_value": 1, "max_value": 4}),
    ("column_values_to_be_in_set", {"column": "contract", "value_set": CONTRACTS}),
    ("column_values_to_be_in_set", {"column": "contract", "value_set": CONTRACTS, "mostly": 0.9}),
    ("column_values_to_be_in_set", {"column": "grade", "value_set": [0, 1.0, 2, 3, 4, 5]}),
    ("column_values_to_be_in_set", {"column": "tenure", "value_set": list(range(0, 121, 2))}),
    ("column_values_to_not_be_in_set", {"column": "contract", "value_set": ["bogus"]}),
    ("column_values_to_not_be_in_set", {"column": "grade", "value_set": [5, 99]}),
    ("column_values_to_be_in_set", {"column": "plan", "value_set": CONTRACTS}),
    ("column_values_to_be_unique", {"column": "plan"}),
    ("column_value_lengths_to_be_between", {"column": "plan", "max_value": 8}),
    ("column_distinct_values_to_equal_set", {"column": "plan", "value_set": CONTRACTS}),
    ("column_values_to_be_unique", {"column": "id"}),
    ("column_values_to_be_unique", {"column": "sparse_id"}),
    ("column_values_to_be_unique", {"column": "tenure", "mostly": 0.01}),
    ("column_values_to_be_unique", {"column": "code"}),
    ("column_values_to_be_unique", {"column": "charges"}),
    ("compound_columns_to_be_unique", {"column_list": ["grade", "segment", "tenure"]}),
    ("compound_columns_to_be_unique",
     {"column_list": ["grade", "segment"], "ignore_row_if": "any_value_is_missing"}),
    ("compound_columns_to_be_unique", {"column_list": ["id", "grade"], "ignore_row_if": "never"}),
    ("column_values_to_match_regex", {"column": "code", "regex": r"^[A-D][X-Z]-\d{4}$"}),
    ("column_values_to_match_regex", {"column": "code", "regex": r"^[A-D][X-Z]-[0-9]{4}$"}),
    ("column_values_to_match_regex", {"column": "code", "regex": r"X-\d", "mostly": 0.2}),
    ("column_values_to_match_regex", {"column": "code", "regex": r"^[A-D](?=X)"}),
    ("column_values_to_match_regex", {"column": "code", "regex": r"^\(?[A-D]\)?\w\-"}),
    ("column_values_to_not_match_regex", {"column": "code", "regex": r"\s"}),
    ("column_values_to_be_in_set", {"column": "charges", "value_set": [0.0], "mostly": 0.0}),
    ("column_distinct_values_to_contain_set", {"column": "charges", "value_set": [-0.0, 0]}),
    ("column_unique_value_count_to_be_between", {"column": "charges", "max_value": 1990}),
    ("column_values_to_not_match_regex", {"column": "code", "regex": "[a-z]"}),
    ("column_values_to_not_match_regex", {"column": "contract", "regex": "bog"}),
    ("column_value_lengths_to_be_between", {"column": "code", "min_value": 7, "max_value": 7}),
    ("column_value_lengths_to_be_between",
     {"column": "contract", "min_value": 8, "strict_min": True, "mostly": 0.5}),
    ("column_min_to_be_between", {"column": "tenure", "min_value": 0}),
    ("column_min_to_be_between", {"column": "charges", "max_value": 10}),
    ("column_max_to_be_between", {"column": "tenure", "max_value": 120}),
    ("column_max_to_be_between", {"column": "ratio", "max_value": 1, "strict_max": True}),
    ("column_mean_to_be_between", {"column": "charges", "min_value": 60, "max_value": 80}),
    ("column_mean_to_be_between", {"column": "tenure", "max_value": 60}),
    ("column_mean_to_be_between", {"column": "nothing", "min_value": 0}),
    ("column_median_to_be_between", {"column": "tenure", "min_value": 55, "max_value": 65}),
    ("column_median_to_be_between", {"column": "charges", "min_value": 0}),
    ("column_sum_to_be_between", {"column": "grade", "min_value": 4000}),
    ("column_sum_to_be_between", {"column": "nothing", "max_value": 0}),
    ("column_stdev_to_be_between", {"column": "charges", "min_value": 15, "max_value": 25}),
    ("column_stdev_to_be_between", {"column": "tenure", "max_value": 30}),
    ("column_distinct_values_to_be_in_set", {"column": "contract", "value_set": CONTRACTS}),
    ("column_distinct_values_to_be_in_set", {"column": "grade", "value_set": [0, 1, 2, 3, 4, 5]}),
    ("column_distinct_values_to_contain_set",
     {"column": "contract", "value_set": ["one-year", "lifetime"]}),
    ("column_distinct_values_to_contain_set", {"column": "segment", "value_set": ["a", "b"]}),
    ("column_distinct_values_to_equal_set", {"column": "segment", "value_set": ["a", "b", "c"]}),
    ("column_distinct_values_to_equal_set", {"column": "grade", "value_set": [0, 1, 2, 9]}),
    ("column_unique_value_count_to_be_between", {"column": "contract", "max_value": 3}),
    ("column_unique_value_count_to_be_between", {"column": "grade", "min_value": 6}),
    ("column_proportion_of_unique_values_to_be_between", {"column": "id", "min_value": 0.999}),
    ("column_proportion_of_unique_values_to_be_between", {"column": "sparse_id", "min_value": 1}),
    ("column_proportion_of_non_null_values_to_be_between",
     {"column": "segment", "min_value": 0.75, "max_value": 0.85}),
    ("column_proportion_of_non_null_values_to_be_between", {"column": "ratio", "min_value": 0.99}),
    ("table_row_count_to_be_between", {"min_value": 1000, "max_value": 5000}),
    ("table_row_count_to_be_between", {"min_value": N, "strict_min": True}),
    ("table_row_count_to_equal", {"value": N}),
    ("table_row_count_to_equal", {"value": 5}),
    ("table_column_count_to_equal", {"value": len(COLUMNS)}),
    ("table_column_count_to_equal", {"value": 3}),
    ("table_columns_to_match_set", {"column_set": COLUMNS[::-1]}),
    ("table_columns_to_match_set", {"column_set": COLUMNS[:4]}),
    ("table_columns_to_match_set", {"column_set": COLUMNS[:4], "exact_match": False}),
    ("table_columns_to_match_set", {"column_set": ["id", "extra"], "exact_match": False}),
    ("table_columns_to_match_ordered_list", {"column_list": COLUMNS}),
    ("table_columns_to_match_ordered_list", {"column_list": COLUMNS[::-1]}),
]  # fmt: skip


@pytest.fixture(scope="module")
def data() -> pa.Table:
    return _table()


def _suite(cases: list[tuple[str, dict[str, Any]]]) -> Suite:
    return Suite(checks=[{"expect": name, **kwargs} for name, kwargs in cases])


@pytest.fixture(scope="module")
def both(data: pa.Table) -> tuple[ValidationReport, ValidationReport]:
    """The whole case list validated natively and by Great Expectations.

    GX runs the column checks apart (it then gets only the columns they read) from the
    table-level ones (it gets the whole table).
    """
    native = validate("crosscheck", data, _suite(CASES))
    tables = [i for i, (name, _) in enumerate(CASES) if name.startswith(("table_", "column_to"))]
    columns = [i for i in range(len(CASES)) if i not in tables]
    gx = {}
    for part in (tables, columns):
        report = validate(
            "crosscheck", data, _suite([CASES[i] for i in part]), engine="great_expectations"
        )
        gx.update(zip(part, report.results, strict=True))
    merged = replace(report, results=[gx[i] for i in range(len(CASES))])
    return native, merged


def test_cases_cover_every_native_expectation() -> None:
    assert {name for name, _ in CASES} == NATIVE


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=lambda v: str(v)[:70])
def test_native_evaluator_agrees_with_great_expectations(
    both: tuple[ValidationReport, ValidationReport], index: int, case: tuple[str, dict[str, Any]]
) -> None:
    native, gx = both[0].results[index], both[1].results[index]
    assert native.engine == "arrow"
    assert gx.engine == "great_expectations"
    assert gx.error is None, gx.error
    assert native.success == gx.success
    assert native.element_count == gx.element_count == N
    assert native.unexpected_count == gx.unexpected_count
    if native.unexpected_count is not None:
        assert _close(native.unexpected_percent, gx.unexpected_percent)
        for key in ("unexpected_count", "missing_count"):
            assert native.observed.get(key) == gx.observed.get(key)
        assert [r["id"] for r in native.sample] == [r["id"] for r in gx.sample]
    elif isinstance(native.observed, dict):  # distinct values: the value lists
        assert native.observed.keys() == gx.observed.keys()
        for key, value in native.observed.items():
            assert _close(value, gx.observed[key]), key
    elif gx.observed is not None:  # the statistic (GX reports none for column_to_exist)
        assert _close(native.observed, gx.observed), (native.observed, gx.observed)


def test_both_engines_find_the_same_failing_rows(
    both: tuple[ValidationReport, ValidationReport],
) -> None:
    native, gx = both
    assert not native.success
    assert native.failing is not None and gx.failing is not None
    assert pc.sum(native.failing).as_py() > 0
    assert native.failing.to_pylist() == gx.failing.to_pylist()


def _gx_only(data: pa.Table, *checks: dict[str, Any]) -> ValidationReport:
    return validate("features", data, Suite(checks=list(checks)))


def test_expectations_without_a_native_version_run_in_great_expectations() -> None:
    data = pa.table({"n": [1, 2, 3, 2, 5], "m": [1.0, 2.0, 3.0, 4.0, 5.0]})
    report = _gx_only(
        data,
        {"expect": "column_values_to_be_increasing", "column": "n"},
        {"expect": "column_values_to_be_increasing", "column": "m"},
        {"expect": "column_value_z_scores_to_be_less_than", "column": "m", "threshold": 3,
         "double_sided": True},
        {"expect": "column_values_to_not_be_null", "column": "n"},
        {"expect": "column_values_to_be_between", "column": "n", "max_value": 4},
    )  # fmt: skip
    engines = [r.engine for r in report.results]
    assert engines == ["great_expectations"] * 3 + ["arrow"] * 2
    assert [r.success for r in report.results] == [False, True, True, True, False]
    increasing = report.results[0]
    assert increasing.unexpected_count == 1
    assert increasing.sample == [{"n": 2, "m": 4.0}]
    assert report.failing is not None
    assert report.failing.to_pylist() == [False, False, False, True, True]  # both engines
    assert "column_values_to_be_increasing on n" in report.summary()


def test_arguments_great_expectations_refuses_fail_the_check() -> None:
    data = pa.table({"n": [1, 2, 3]})
    report = validate(
        "t",
        data,
        Suite(
            checks=[
                {"expect": "column_values_to_be_between", "column": "n"},
                {"expect": "column_values_to_be_increasing", "column": "n", "mostly": 7},
            ]
        ),
        engine="great_expectations",
    )
    first, second = report.results
    assert not first.success and "cannot both be None" in (first.error or "")
    assert not second.success and "mostly" in (second.error or "")


def test_duplicate_checks_each_get_a_result(data: pa.Table) -> None:
    check = {"expect": "column_values_to_be_increasing", "column": "id"}
    report = validate("t", data, Suite(checks=[check, check]))
    assert len(report.results) == 2
    assert report.results[0] == report.results[1]


def test_great_expectations_is_quiet(data: pa.Table, capfd: pytest.CaptureFixture[str]) -> None:
    report = _gx_only(
        data,
        {"expect": "column_values_to_be_increasing", "column": "id"},
        {"expect": "column_values_to_be_in_set", "column": "contract", "value_set": CONTRACTS},
    )
    validate("t", data, Suite(checks=[{"expect": "column_values_to_be_unique", "column": "id"}]),
             engine="great_expectations")  # fmt: skip
    assert report.results[0].engine == "great_expectations"
    captured = capfd.readouterr()
    assert "Calculating Metrics" not in captured.err
    assert "%|" not in captured.err  # no tqdm bar of any kind
    assert captured.out == ""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("network access")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_data_docs_page(
    data: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: None
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    report = _gx_only(
        data,
        {"expect": "column_values_to_not_be_null", "column": "charges"},
        {"expect": "column_values_to_be_between", "column": "tenure", "min_value": 0,
         "max_value": 120},
        {"expect": "column_mean_to_be_between", "column": "charges", "min_value": 60},
        {"expect": "column_values_to_be_increasing", "column": "id"},
        {"expect": "column_distinct_values_to_equal_set", "column": "segment",
         "value_set": ["a", "b"]},
        {"expect": "column_values_to_not_be_null", "column": "nope"},
        {"expect": "table_row_count_to_equal", "value": N},
    )  # fmt: skip
    docs = tmp_path / "docs"
    path = write_data_docs(report, docs)

    assert path.parent == docs / "features"
    stamp = report.started.strftime("%Y%m%dT%H%M%S")
    assert path.name == f"{stamp}-{report.run_id[:8]}.html"
    html = path.read_text(encoding="utf-8")
    assert len(html) > 10_000
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "features" in text  # the table, as the suite's name
    assert "column_values_to_be_between [arrow]" in text  # each check and its engine
    assert "column_values_to_be_increasing [great_expectations]" in text
    assert "values must be greater than or equal to 0 and less than or equal to 120" in text
    assert "values must never be null" in text
    assert "tenure" in text and "charges" in text
    assert "missing column 'nope'" in text
    assert list(cwd.iterdir()) == []  # no gx/ folder or anything else in the working directory
    # The page, its index and the assets it links, all in the data-docs folder.
    static = ["static-assets/images/favicon.ico", "static-assets/images/logo-long.png",
              "static-assets/lakestacks.css", "static-assets/lakestacks.js"]  # fmt: skip
    written = sorted(str(p.relative_to(docs)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted([str(path.relative_to(docs)), "index.html", *static])
    assert not Path("gx").exists() and os.getcwd() == str(cwd)


def test_data_docs_of_a_passing_native_run(tmp_path: Path, no_network: None) -> None:
    data = pa.table({"id": [1, 2, 3]})
    report = validate(
        "clean", data, Suite(checks=[{"expect": "column_values_to_be_unique", "column": "id"}])
    )
    path = write_data_docs(report, tmp_path)
    assert path.parent == tmp_path / "clean"
    assert "values must be unique" in path.read_text(encoding="utf-8")


def test_every_native_result_renders(
    both: tuple[ValidationReport, ValidationReport],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for report in both:
        page = write_data_docs(report, tmp_path / report.results[0].engine).read_text()
        assert "raised an exception" not in page
        assert page.count("[arrow]") + page.count("[great_expectations]") == len(CASES)
    assert capfd.readouterr().err == ""


_BACKGROUND = """
import json, os, sys, threading, time

def no_fork(*args, **kwargs):
    raise AssertionError("os.fork() called")

os.fork = no_fork  # the pages come from a new interpreter, never from a fork of this one
threading.Thread(target=threading.Event().wait, daemon=True).start()  # threads, as in a run
directory, fake_gx, size_limit, send, timeout = sys.argv[1:]
if fake_gx:
    sys.path.insert(0, fake_gx)  # the worker imports the parent's path: this GX stands in
if size_limit:
    import resource
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(size_limit), int(size_limit)))

import pyarrow as pa
from lakestacks.quality import (
    prepare_data_docs, start_data_docs, validate, wait_for_data_docs)
from lakestacks.spec.data import Suite

def children():
    found = []
    for stat in os.listdir("/proc"):
        try:
            fields = open(f"/proc/{stat}/stat").read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if stat.isdigit() and int(fields[1]) == os.getpid():
            found.append(int(stat))
    return found

prepared = prepare_data_docs()
[worker] = children()
paths = []
if send:
    suite = Suite(checks=[{"expect": "column_values_to_be_unique", "column": "id"}])
    report = validate("clean", pa.table({"id": [1, 2, 2]}), suite)
    paths = start_data_docs([report], directory)
start = time.monotonic()
problems = wait_for_data_docs(float(timeout))
print(json.dumps({
    "prepared": prepared, "worker": worker, "paths": [str(p) for p in paths],
    "drawn_here": "great_expectations" in sys.modules, "problems": problems,
    "waited": time.monotonic() - start, "children": children(),
}))
"""


def _background(
    tmp: Path,
    directory: Path,
    *,
    fake_gx: str = "",
    size_limit: int = 0,
    send: bool = True,
    timeout: float = 120,
) -> dict[str, Any]:
    """Run the script above in a new interpreter, as `stacks run` is; its JSON and stderr.

    ``fake_gx`` is the body of a stand-in ``great_expectations`` package the worker imports.
    """
    import json
    import subprocess
    import sys

    fake = ""
    if fake_gx:
        package = tmp / "fake" / "great_expectations"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text(fake_gx)
        fake = str(package.parent)
    temp = tmp / "temp"  # where the jobs' files go, to check none is left
    temp.mkdir()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _BACKGROUND, str(directory), fake, str(size_limit or ""),
         "1" if send else "", str(timeout)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,  # a worker waited for at exit, with nothing to draw, would pass this
        env={**os.environ, "TMPDIR": str(temp)},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout)
    result["stderr"] = done.stderr
    result["seconds"] = time.monotonic() - started
    result["temp"] = sorted(p.name for p in temp.iterdir())
    result["worker_alive"] = Path(f"/proc/{result['worker']}").exists()  # after the exit
    return result


def test_pages_are_drawn_by_a_worker_process_and_waited_for(tmp_path: Path) -> None:
    # A new interpreter (not a fork) drew the page: GX was imported there only, quietly.
    result = _background(tmp_path, tmp_path / "docs")
    assert result["prepared"] is True and result["drawn_here"] is False
    assert result["problems"] == [] and result["stderr"] == ""
    [page] = [Path(p) for p in result["paths"]]
    assert page.parent == tmp_path / "docs" / "clean"
    html = page.read_text(encoding="utf-8")
    assert "values must be unique" in html and html.rstrip().endswith("</html>")
    assert [p.name for p in page.parent.iterdir()] == [page.name]  # no partial file left
    assert result["children"] == [result["worker"]]  # kept after the wait, for the next run
    assert not result["worker_alive"]  # stopped at exit
    assert result["temp"] == []  # the job's file was read and deleted


def test_a_page_that_cannot_be_drawn_is_reported_not_raised(tmp_path: Path) -> None:
    blocked = tmp_path / "docs"
    blocked.write_text("a file where the docs folder should be")
    result = _background(tmp_path, blocked)
    [problem] = result["problems"]
    assert problem.startswith("data docs not written (") and "docs/clean/" in problem
    assert "Error" in problem  # the worker's exception, named
    assert "data docs not written" in result["stderr"]  # logged as a warning too


def test_a_page_is_whole_or_absent(tmp_path: Path) -> None:
    # A file-size limit (inherited by the worker) stops the page's write a third of the way.
    result = _background(tmp_path, tmp_path / "docs", size_limit=4096)
    [problem] = result["problems"]
    assert "File too large" in problem
    assert [p for p in (tmp_path / "docs").rglob("*") if p.is_file()] == []


def test_a_worker_that_dies_is_reported(tmp_path: Path) -> None:
    crash = "import os, sys\nsys.stderr.write('GX stand-in: crashed\\n')\nos._exit(3)\n"
    result = _background(tmp_path, tmp_path / "docs", fake_gx=crash)
    [problem] = result["problems"]
    assert "exited with status 3: GX stand-in: crashed" in problem
    assert result["children"] == []  # reaped: no zombie
    assert result["temp"] == []


def test_a_hung_worker_is_killed_at_the_deadline(tmp_path: Path) -> None:
    result = _background(tmp_path, tmp_path / "docs", fake_gx="import time\ntime.sleep(120)\n",
                         timeout=1)  # fmt: skip
    [problem] = result["problems"]
    assert problem.endswith(": took over 1 s")
    assert result["waited"] < 10
    assert result["children"] == [] and not result["worker_alive"]
    assert result["temp"] == []  # the job it never read is deleted


def test_a_worker_sent_nothing_is_stopped_without_waiting(tmp_path: Path) -> None:
    # A run that ends before its pages (no expectations ran, an early error): the worker,
    # still importing, must not hold up the end of the run or outlive it.
    result = _background(
        tmp_path, tmp_path / "docs", fake_gx="import time\ntime.sleep(120)\n", send=False
    )
    assert result["prepared"] is True and result["problems"] == []
    assert result["waited"] < 1 and result["children"] == [result["worker"]]
    assert not result["worker_alive"] and result["stderr"] == ""
