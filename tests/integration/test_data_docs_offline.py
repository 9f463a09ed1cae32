"""Data docs work offline: a real data prep's pages link no CDN, only files beside them, and
``index.html`` lists every validation (also when several processes write pages at once)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from lakestacks import api
from lakestacks.flows.data_prep import DataPrepResult
from lakestacks.flows.stages.data_prep import DataPrep
from tests.integration.test_data_prep import project

pytestmark = pytest.mark.integration

# Tags whose src/href the browser fetches by itself (anchors only when clicked).
_FETCHED = {"script", "link", "img", "iframe", "source", "embed", "video", "audio", "object"}


class _Links(HTMLParser):
    """Every (tag, attribute, value) of src/href/data/srcset/poster, and the style text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "data", "srcset", "poster"} and value is not None:
                self.links.append((tag, name, value.strip()))
            if name == "style" and value:
                self.styles.append(value)
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def _links(page: Path) -> _Links:
    parser = _Links()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _local(value: str) -> bool:
    """A link to a file (not an in-page anchor, not a data: URI)."""
    return not value.startswith(("#", "data:", "javascript:", "mailto:"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DataPrepResult]:
    """Two real data preps, one failing (dry run), one passing: their data-docs folder, and
    the second's result."""
    root = tmp_path_factory.mktemp("offline")
    failing = project(root, mode="dry_run", bad=3)
    api.run(failing, flow="data_prep", runner="direct")  # waits for its pages
    passing = project(root)
    prep = api.run(passing, flow="data_prep", runner="direct").data_prep
    assert prep is not None
    folder = root / ".lake" / "_reports" / "data_docs"
    assert len(list(folder.glob("*/*.html"))) == 2
    return folder, prep


@pytest.fixture
def docs(runs: tuple[Path, DataPrepResult]) -> Path:
    return runs[0]


def _pages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.html") if p.name != "index.html")


def test_pages_link_nothing_remote_and_every_local_asset_exists(docs: Path) -> None:
    pages = _pages(docs)
    assert len(pages) == 2
    for page in pages:
        found = _links(page)
        fetched = [(tag, value) for tag, _, value in found.links if tag in _FETCHED]
        remote = [(tag, v) for tag, v in fetched if re.match(r"(?i)(https?:)?//", v)]
        assert remote == [], f"{page.name} fetches {remote}"
        css = " ".join(found.styles)
        assert not re.search(r"(?i)url\(\s*['\"]?\s*(https?:)?//", css), page.name
        assert not re.search(r"(?i)@import", css), page.name
        # The page still has its look and behaviour, from files beside it.
        assert ("link", "../static-assets/lakestacks.css") in fetched
        assert ("script", "../static-assets/lakestacks.js") in fetched
        for tag, attribute, value in found.links:
            if not _local(value):
                continue
            assert not re.match(r"(?i)[a-z][a-z0-9+.-]*:", value), (tag, value)  # no scheme
            target = (page.parent / unquote(urlsplit(value).path)).resolve()
            assert target.is_file(), f"{page.name}: <{tag} {attribute}={value!r}> is missing"
            assert target.is_relative_to(docs.resolve()), (tag, value)


def test_index_lists_every_validation_newest_first(docs: Path) -> None:
    index = docs / "index.html"
    assert index.is_file()
    found = _links(index)
    pages = [value for tag, _, value in found.links if tag == "a"]
    assert sorted((docs / unquote(p)).resolve() for p in pages) == [
        p.resolve() for p in _pages(docs)
    ]
    for tag, _, value in found.links:
        assert not re.match(r"(?i)(https?:)?//", value), (tag, value)
        assert (docs / unquote(urlsplit(value).path)).is_file(), value
    html = index.read_text(encoding="utf-8")
    rows = re.findall(r"<tr class=\"ls-(pass|fail)\">(.*?)</tr>", html, re.S)
    # Newest first: the passing run came second; each row: table, status, counts, rows.
    assert [status for status, _ in rows] == ["pass", "fail"]
    for status, row in rows:
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        started, table, run, mode, result, counts, count = cells
        assert table == "features" and count == "100" and len(run) == 8
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", started)
        if status == "pass":
            assert (mode, result, counts) == ("enforce", "passed", "2/2")
        else:
            assert (mode, result, counts) == ("dry_run", "failed", "1/2")
    assert "2 validations, 1 failed" in html


def test_the_run_summary_names_the_index(runs: tuple[Path, DataPrepResult]) -> None:
    folder, prep = runs
    [page] = prep.docs
    lines = [str(line) for line in DataPrep().summary(prep)[1:]]
    assert lines[:2] == [f"data docs: {page}", f"data docs index: {folder / 'index.html'}"]


_WRITER = """
import sys
import pyarrow as pa
from lakestacks.quality import validate, write_data_docs
from lakestacks.quality.docs import _write_pages
from lakestacks.spec.data import Suite

folder, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
suite = Suite(checks=[{"expect": "column_values_to_be_unique", "column": "id"}])
data = [pa.table({"id": [1, 2, i % 2 + 1]}) for i in range(count)]
reports = [validate(f"{name}_{i}", table, suite) for i, table in enumerate(data)]
write_data_docs(reports[0], folder)
_write_pages(reports[1:], folder)  # a worker's batch
"""


def test_processes_writing_pages_at_once_leave_a_complete_index(tmp_path: Path) -> None:
    folder = tmp_path / "data_docs"
    writers = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(folder), f"w{n}", "4"])
        for n in range(3)
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    pages = _pages(folder)
    assert len(pages) == 12
    linked = [v for tag, _, v in _links(folder / "index.html").links if tag == "a"]
    assert sorted(linked) == sorted(str(p.relative_to(folder)) for p in pages)
    leftovers = [p.name for p in folder.rglob(".*")]
    assert leftovers == []  # no temporary file left behind


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("STACKS_REQUIRE_SERVICES") == "1":
            pytest.fail("chromium is required (STACKS_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("needs headless Chromium (apt-get install -y chromium)")
    return found


def _dump_dom(chromium: str, page: Path, profile: Path) -> str:
    """The DOM after the page loaded, scripts run, with every host name unresolvable."""
    done = subprocess.run(
        [chromium, "--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
         f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout


def test_pages_render_offline_in_headless_chromium(docs: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    index = _dump_dom(chromium, docs / "index.html", tmp_path / "profile")
    assert "2 validations, 1 failed" in index
    assert index.count('class="ls-pass"') == 1 and index.count('class="ls-fail"') == 1
    [failed] = [p for p in _pages(docs) if "dry_run" in p.read_text(encoding="utf-8")[:2000]]
    page = _dump_dom(chromium, failed, tmp_path / "profile")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "Failed" in text and "features" in text
    assert "values must be greater than or equal to 0 and less than or equal to 10" in text
    assert "3 unexpected values found" in text
    # Our script ran (it marks the document), so static-assets/ loaded from beside the page.
    assert re.search(r"<html[^>]*class=\"[^\"]*\bls-js\b", page)


def test_a_page_without_a_summary_is_listed_from_its_name(tmp_path: Path) -> None:
    # A page drawn by an earlier version (no summary in its head) still gets its row.
    from lakestacks.quality._offline import write_index
    from lakestacks.quality.docs import index_path

    old = tmp_path / "features" / "20250101T120000-abcdef12.html"
    old.parent.mkdir()
    old.write_text("<html><head><title>old</title></head><body></body></html>")
    write_index(tmp_path)
    html = index_path(tmp_path).read_text(encoding="utf-8")
    assert '<a href="features/20250101T120000-abcdef12.html">2025-01-01 12:00:00</a>' in html
    assert "<td>features</td>" in html and ">abcdef12</code>" in html
    assert '<tr class="ls-unknown">' in html and "1 validation, 0 failed" in html
