"""The README's "Guarantees" name the tests that hold each promise; every one must exist, so
a renamed or deleted test cannot leave a promise without its proof."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("## Guarantees")
    return text[start : text.index("\n## ", start + 1)]


def test_every_test_the_guarantees_name_exists() -> None:
    section = _section()
    sources = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py")}
    every = "\n".join(sources.values())
    named = re.findall(r"`([\w./]*?)(?:::)?(test_\w+)?(?:\[[\w|]+\])?`", section)
    tests = [t for _, t in named if t]
    files = [Path(f).name for f, _ in named if f.endswith(".py")]
    assert len(tests) >= 20 and len(files) >= 10, (tests, files)
    missing = [t for t in tests if not re.search(rf"^def {t}\(", every, re.MULTILINE)]
    assert missing == [], f"README names tests that do not exist: {missing}"
    assert [f for f in files if f not in sources] == []
    for row in re.findall(r"^\|(?!---| when ).*$", section, re.MULTILINE):
        assert "test_" in row.split("|")[-2], f"a promise without a test: {row}"
