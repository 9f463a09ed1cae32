"""How a new project installs lakestacks: the requirement `stacks init` writes into its
pyproject and CI, from what the user gives or from how this lakestacks was installed."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from lakestacks import __version__
from lakestacks.errors import UserError
from lakestacks.scaffold.requirement import default_requirement, normalise_requirement


@pytest.mark.parametrize(
    ("given", "requirement"),
    [
        ("lakestacks==0.2.0", "lakestacks==0.2.0"),
        ("0.2.0", "lakestacks==0.2.0"),
        ("lakestacks>=0.1,<0.3", "lakestacks>=0.1,<0.3"),
        (
            "git+https://github.com/acme/lakestacks@v0.2.0",
            "lakestacks @ git+https://github.com/acme/lakestacks@v0.2.0",
        ),
        (
            "lakestacks @ git+https://github.com/acme/lakestacks@abc123",
            "lakestacks @ git+https://github.com/acme/lakestacks@abc123",
        ),
        (
            "https://example.com/lakestacks-0.2.0-py3-none-any.whl",
            "lakestacks @ https://example.com/lakestacks-0.2.0-py3-none-any.whl",
        ),
    ],
)
def test_requirements_given_by_the_user(given: str, requirement: str) -> None:
    assert normalise_requirement(given) == requirement


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("", "the lakestacks requirement is empty"),
        ("torch==2.13.0", "'torch==2.13.0' is not a pip requirement for lakestacks"),
        ('lakestacks; python_version > "3.10"', "cannot go into the CI files as it is"),
        ("lakestacks==$(rm -rf /)", "cannot go into the CI files as it is"),
    ],
)
def test_bad_requirements_are_refused_with_an_example(given: str, message: str) -> None:
    with pytest.raises(UserError) as err:
        normalise_requirement(given)
    assert message in str(err.value) and "git+https://github.com/ORG/lakestacks@REF" in str(
        err.value
    )


class _Dist:
    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.direct_url is None else json.dumps(self.direct_url)


def _installed_from(monkeypatch: pytest.MonkeyPatch, direct_url: dict[str, Any] | None) -> None:
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: _Dist(direct_url))


def test_from_the_package_index_it_pins_the_version(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed_from(monkeypatch, None)
    assert default_requirement() == f"lakestacks=={__version__}"


def test_from_git_it_pins_the_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://github.com/acme/lakestacks.git"
    vcs = {"vcs": "git", "commit_id": "0123abcd", "requested_revision": "main"}
    _installed_from(monkeypatch, {"url": url, "vcs_info": vcs})
    assert default_requirement() == f"lakestacks @ git+{url}@0123abcd"


def test_from_an_archive_url_it_names_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    url = "https://example.com/lakestacks-0.1.0-py3-none-any.whl"
    _installed_from(monkeypatch, {"url": url, "archive_info": {}})
    assert default_requirement() == f"lakestacks @ {url}"
    _installed_from(monkeypatch, {"url": "file:///tmp/lakestacks.whl", "archive_info": {}})
    assert default_requirement() == f"lakestacks=={__version__}"  # CI cannot reach a file


def _checkout(folder: Path, remote: str | None) -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=folder, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return done.stdout.strip()

    folder.mkdir()
    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "first")
    if remote:
        git("remote", "add", "origin", remote)
    return git("rev-parse", "HEAD")


def test_from_a_checkout_it_pins_its_public_remote_and_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    public = tmp_path / "public"
    sha = _checkout(public, "https://github.com/acme/lakestacks.git")
    _installed_from(monkeypatch, {"url": public.as_uri(), "dir_info": {"editable": True}})
    assert default_requirement() == (
        f"lakestacks @ git+https://github.com/acme/lakestacks.git@{sha}"
    )
    # No remote, or one CI could not fetch without keys: the version.
    for name, remote in (("local", None), ("ssh", "git@github.com:acme/lakestacks.git")):
        _checkout(tmp_path / name, remote)
        where = (tmp_path / name).as_uri()
        _installed_from(monkeypatch, {"url": where, "dir_info": {"editable": True}})
        assert default_requirement() == f"lakestacks=={__version__}"
