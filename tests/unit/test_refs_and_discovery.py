"""Model references written the wrong way, and finding the stack file from a sub-folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakestacks.api import _find_stack
from lakestacks.catalog import CatalogError, parse_model_ref
from lakestacks.errors import UserError


@pytest.mark.parametrize(
    ("text", "advice"),
    [("demo_model:3", "write demo_model/3"), ("demo_model:champion", "write demo_model@champion")],
)
def test_a_colon_reference_says_how_to_write_it(text: str, advice: str) -> None:
    with pytest.raises(CatalogError, match=advice):
        parse_model_ref(text)


def test_the_stack_file_is_found_in_a_parent_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert _find_stack("stack.yaml") == tmp_path / "stack.yaml"
    assert _find_stack("other.yaml") == Path("other.yaml")  # a path given is taken as is


def test_the_search_stops_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stack.yaml").write_text("version: 1\n")  # outside the repository: not used
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    monkeypatch.chdir(repo / "src")
    with pytest.raises(UserError, match="stack file not found") as err:
        _find_stack("stack.yaml")
    assert f"{repo / 'src'} and the folders above it up to the repository root {repo}" in str(
        err.value
    )
