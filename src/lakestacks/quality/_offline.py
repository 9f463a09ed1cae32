"""Data docs that work offline: GX's pages without CDN links, their assets, and an index.

Great Expectations' page links Bootstrap, jQuery, Vega and Font Awesome from CDNs, and GX's logo
from S3. A page written here links nothing remote: those tags and its scripts are dropped, and
``static-assets/`` beside the pages holds what it uses instead: GX's own logo and favicon (from the
installed package) and a stylesheet and a script of ours (``_static/``) that keep the page
readable (tables, pass/fail colours, icons) and its "Failed Only" filter working. Vega charts,
which GX draws only for a few distribution checks, are not drawn.

Each page carries its validation's summary in a ``<meta>`` tag at the top of its head, and
``index.html`` is rebuilt from the pages on disk, so that it is complete whichever process
wrote which page. No Great Expectations import here: the caller passes GX's static folder.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from lakestacks.quality.report import ValidationReport

__all__ = [
    "INDEX",
    "STATIC",
    "Record",
    "install_static",
    "offline_page",
    "read_records",
    "replace_file",
    "write_index",
]

INDEX = "index.html"
STATIC = "static-assets"  # a hyphen: no table (``[a-z_][a-z0-9_]*``) has this folder's name
# What a page reads from static-assets/: ours (_static/), then GX's.
_OURS = ("lakestacks.css", "lakestacks.js")
_GX_ASSETS = ("images/logo-long.png", "images/favicon.ico")  # the same paths in GX's static/
_META = "lakestacks-validation"
_HEAD_BYTES = 4096  # the meta tag is the first thing in a page's head
_ROUNDS = 10  # index rewrites while other processes keep adding pages

_REMOTE = r"""(?:https?:)?//"""
_ATTRS = r"""(?:[^>"']|"[^"]*"|'[^']*')*?"""
_SCRIPT = re.compile(r"<script\b[^>]*>.*?</script\s*>\s*", re.I | re.S)
_REMOTE_TAG = re.compile(
    rf"""<(?:link|img|iframe|source|embed|object|video|audio)\b{_ATTRS}"""
    rf"""\b(?:src|href|data|srcset|poster)\s*=\s*"""
    rf"""(?:"\s*{_REMOTE}[^"]*"|'\s*{_REMOTE}[^']*'|{_REMOTE}[^\s>]*){_ATTRS}/?>\s*""",
    re.I | re.S,
)
_CSS_IMPORT = re.compile(rf"""@import\s+(?:url\()?\s*["']?\s*{_REMOTE}[^;]*;""", re.I)
_CSS_URL = re.compile(rf"""url\(\s*["']?\s*{_REMOTE}[^)]*\)""", re.I)
_GX_LOGO = re.compile(
    r"""(<img\b[^>]*?\bsrc\s*=\s*)"https?://[^"]*/logo-long\.png[^"]*\"""", re.I | re.S
)
_FOOTER = re.compile(r"<footer\b.*?</footer\s*>\s*", re.I | re.S)  # GX's newsletter link
_HOME = re.compile(r"""(\bhref\s*=\s*")(?:\.\./)+index\.html(")""", re.I)
_GX_STATIC = re.compile(r"""(\b(?:href|src)\s*=\s*")(?:\.\./)+static/""", re.I)
# GX's links to the pages of a site it would build (its suites' pages): not written here.
_SITE_LINK = re.compile(
    rf"""<a\b[^>]*?\bhref\s*=\s*"(?:\.\./)+(?!index\.html"|{STATIC}/)[^"]*"[^>]*>(.*?)</a\s*>""",
    re.I | re.S,
)
_TITLES = re.compile(r"<title>.*?</title>\s*", re.I | re.S)
_HEAD = re.compile(r"<head\b[^>]*>", re.I)
_HEAD_END = re.compile(r"</head\s*>", re.I)
_META_TAG = re.compile(rf"""<meta name="{_META}" content="([^"]*)"\s*/?>""")
_PAGE_NAME = re.compile(r"(\d{8}T\d{6})-([0-9a-zA-Z]+)\.html")


@dataclass(frozen=True)
class Record:
    """A page as the index lists it; None where an older page does not say."""

    href: str  # relative to the data-docs folder
    table: str
    run_id: str
    started: dt.datetime | None
    mode: str | None
    success: bool | None
    checks: int | None
    passed: int | None
    rows: int | None


def offline_page(page: str, report: ValidationReport) -> str:
    """GX's page for ``report``, rewritten to link only files beside it (``../static-assets``).

    Args:
        page: The HTML GX rendered (see ``_gx.render_html``).
        report: The validation it shows (its summary goes in the page's head, for the index).

    Returns:
        The page, for ``<folder>/<table>/<name>.html``.
    """
    page = _SCRIPT.sub("", page)  # jQuery, Bootstrap and Vega code: none of it runs offline
    page = _GX_LOGO.sub(rf'\1"../{STATIC}/images/logo-long.png"', page)
    page = _REMOTE_TAG.sub("", page)
    page = _CSS_IMPORT.sub("", page)
    page = _CSS_URL.sub("none", page)
    page = _FOOTER.sub("", page)
    page = _HOME.sub(rf"\g<1>../{INDEX}\2", page)
    page = _GX_STATIC.sub(rf"\g<1>../{STATIC}/", page)
    page = _SITE_LINK.sub(r"\1", page)
    page = _TITLES.sub("", page)
    passed = sum(r.success for r in report.results)
    summary = {
        "table": report.table,
        "run_id": report.run_id,
        "started": report.started.astimezone(dt.UTC).isoformat(),
        "mode": report.mode,
        "success": report.success,
        "checks": len(report.results),
        "passed": passed,
        "rows": report.rows,
    }
    status = "passed" if report.success else "failed"
    title = f"{report.table}: {passed}/{len(report.results)} checks {status} ({report.run_id[:8]})"
    head = (
        f'<meta name="{_META}" content="{html.escape(json.dumps(summary), quote=True)}">\n'
        f"    <title>{html.escape(title)}</title>"
    )
    page = _HEAD.sub(lambda m: f"{m.group(0)}\n    {head}", page, count=1)
    tail = (
        f'<link rel="stylesheet" href="../{STATIC}/lakestacks.css">\n'
        f'    <script src="../{STATIC}/lakestacks.js"></script>\n  '
    )
    return _HEAD_END.sub(lambda m: tail + m.group(0), page, count=1)


def install_static(directory: Path, gx_static: Path) -> None:
    """Put the pages' assets in ``directory/static-assets`` (each written only when it differs)."""
    files = [
        (name, resources.files("lakestacks.quality").joinpath("_static", name)) for name in _OURS
    ]
    files += [(name, gx_static / name) for name in _GX_ASSETS]
    for name, source in files:
        data = source.read_bytes()
        target = directory / STATIC / name
        try:
            if target.read_bytes() == data:
                continue
        except OSError:
            pass  # not there yet
        replace_file(target, data)


def read_records(directory: Path) -> list[Record]:
    """The pages under ``directory`` (``<table>/<name>.html``), newest first."""
    records = []
    for path in _pages(directory):
        href = "/".join(quote(part) for part in path.relative_to(directory).parts)
        records.append(_record(path, href))
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    records.sort(key=lambda r: (r.started or epoch, r.href), reverse=True)
    return records


def write_index(directory: Path) -> Path:
    """Rewrite ``directory/index.html`` from the pages on disk; its path.

    Several processes may write pages into one folder at once: each rewrites the index after
    its pages, whole (a temporary file, then a rename), and then looks again; when pages
    appeared meanwhile, it rewrites it. The last index written is then built from a listing
    taken after the last page was written, so it lists every page.
    """
    index = directory / INDEX
    listed: list[Path] | None = None
    for _ in range(_ROUNDS):
        pages = _pages(directory)
        if pages == listed:
            break
        replace_file(index, render_index(read_records(directory)).encode())
        listed = pages
    return index


def render_index(records: list[Record]) -> str:
    """The index page: one row per validation, newest first, each linking its page."""
    rows = []
    for r in records:
        if r.success is None:
            status, css = "unknown", "ls-unknown"
        else:
            status, css = ("passed", "ls-pass") if r.success else ("failed", "ls-fail")
        counts = f"{r.passed}/{r.checks}" if r.checks is not None else ""
        started = f"{r.started:%Y-%m-%d %H:%M:%S}" if r.started else ""
        link = f'<a href="{html.escape(r.href, quote=True)}">{html.escape(started) or "page"}</a>'
        cells = [
            f"<td>{link}</td>",
            f"<td>{html.escape(r.table)}</td>",
            f'<td><code title="{html.escape(r.run_id, quote=True)}">'
            f"{html.escape(r.run_id[:8])}</code></td>",
            f"<td>{html.escape(r.mode or '')}</td>",
            f'<td class="ls-status">{status}</td>',
            f'<td class="ls-num">{counts}</td>',
            f'<td class="ls-num">{"" if r.rows is None else f"{r.rows:,}"}</td>',
        ]
        rows.append(f'      <tr class="{css}">' + "".join(cells) + "</tr>")
    failed = sum(r.success is False for r in records)
    summary = f"{len(records)} validation{'' if len(records) == 1 else 's'}, {failed} failed"
    body = "\n".join(rows) or '      <tr><td colspan="7">No validation yet.</td></tr>'
    return f"""<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Data docs: validations</title>
    <link rel="icon" href="{STATIC}/images/favicon.ico">
    <link rel="stylesheet" href="{STATIC}/lakestacks.css">
  </head>
  <body class="ls-index">
    <div class="container">
      <h1>Validations</h1>
      <p class="lead">{summary}; newest first (times in UTC). Each links its Great Expectations
        page.</p>
      <div class="table-responsive">
      <table class="table table-bordered table-sm">
        <thead><tr><th>started</th><th>table (suite)</th><th>run</th><th>mode</th>
          <th>result</th><th>checks passed</th><th>rows</th></tr></thead>
        <tbody>
{body}
        </tbody>
      </table>
      </div>
    </div>
  </body>
</html>
"""


def replace_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(name, 0o644)  # mkstemp's 0600 would keep a web server from serving it
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def _pages(directory: Path) -> list[Path]:
    """The pages in their tables' folders (no partial file, no assets), sorted."""
    try:
        folders = [d for d in directory.iterdir() if d.is_dir() and d.name != STATIC]
    except OSError:
        return []
    pages: list[Path] = []
    for folder in folders:
        if folder.name.startswith("."):
            continue
        pages.extend(p for p in folder.glob("*.html") if not p.name.startswith("."))
    return sorted(pages)


def _record(path: Path, href: str) -> Record:
    """A page's record, from its meta tag, or from its name for a page that has none."""
    try:
        with path.open("rb") as page:
            head = page.read(_HEAD_BYTES).decode("utf-8", errors="replace")
        found = _META_TAG.search(head)
        summary: dict[str, Any] = json.loads(html.unescape(found.group(1))) if found else {}
        return Record(
            href=href,
            table=str(summary["table"]),
            run_id=str(summary["run_id"]),
            started=dt.datetime.fromisoformat(summary["started"]),
            mode=str(summary["mode"]),
            success=bool(summary["success"]),
            checks=int(summary["checks"]),
            passed=int(summary["passed"]),
            rows=int(summary["rows"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        pass  # a page from an older version, or one being replaced: what its name says
    name = _PAGE_NAME.fullmatch(path.name)
    started = None
    if name is not None:
        started = dt.datetime.strptime(name.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
    return Record(
        href=href,
        table=path.parent.name,
        run_id=name.group(2) if name else path.stem,
        started=started,
        mode=None,
        success=None,
        checks=None,
        passed=None,
        rows=None,
    )
