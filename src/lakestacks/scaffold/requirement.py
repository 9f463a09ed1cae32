"""How a new project installs lakestacks: the pip requirement its pyproject and CI use.

lakestacks is not on the package index yet, so a project pins what made it: the installed
version, or the git commit it was installed from (``direct_url.json``, PEP 610), or what the
user gives (``stacks init --lakestacks-spec``).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lakestacks import __version__
from lakestacks._git import git
from lakestacks.errors import UserError

__all__ = ["default_requirement", "normalise_requirement"]

_URL = re.compile(r"^(git\+[a-z]+://|https?://|file:)", re.IGNORECASE)
_OP = r"(?:===|==|~=|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+"
_SPEC = re.compile(rf"^lakestacks(?:\[[a-z0-9_,\- ]+\])?\s*(?:{_OP}(?:\s*,\s*{_OP})*)?$")
_DIRECT = re.compile(r"^lakestacks(?:\[[a-z0-9_,\- ]+\])?\s*@\s*\S+$")
# Characters that would need quoting in a shell or YAML line of the CI files, or a marker.
_UNSAFE = set("\"'`$\\;\n\r\t")


def normalise_requirement(spec: str) -> str:
    """A pip requirement for lakestacks from what the user gave: a requirement, a bare
    version, or a URL (git or archive).

    Example:
        >>> normalise_requirement("git+https://github.com/acme/lakestacks@v0.2.0")
        'lakestacks @ git+https://github.com/acme/lakestacks@v0.2.0'
        >>> normalise_requirement("0.2.0")
        'lakestacks==0.2.0'
    """
    text = spec.strip()
    example = "e.g. 'lakestacks==0.1.0' or 'git+https://github.com/ORG/lakestacks@REF'"
    if not text:
        raise UserError(f"the lakestacks requirement is empty; give one, {example}")
    bad = sorted(c for c in set(text) & _UNSAFE)
    if bad:
        raise UserError(
            f"lakestacks requirement {spec!r}: {' '.join(map(repr, bad))} cannot go into the "
            f"CI files as it is (no quotes, '$', ';' or environment markers); {example}"
        )
    if _URL.match(text):
        text = f"lakestacks @ {text}"
    elif text[0].isdigit():
        text = f"lakestacks=={text}"
    lowered = text.lower()
    if _SPEC.match(lowered) or _DIRECT.match(lowered):
        return text
    raise UserError(f"{spec!r} is not a pip requirement for lakestacks; {example}")


def default_requirement() -> str:
    """The requirement for the lakestacks running now: where it was installed from when
    that can be installed again elsewhere (a git commit, an archive URL), else
    ``lakestacks==VERSION``."""
    try:
        dist = importlib.metadata.distribution("lakestacks")
        raw = dist.read_text("direct_url.json")
    except importlib.metadata.PackageNotFoundError:
        raw = None
    found = _from_direct_url(raw) if raw else None
    return found or f"lakestacks=={__version__}"


def _from_direct_url(raw: str) -> str | None:
    try:
        info: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str):
        return None
    url: str = info["url"]
    vcs = info.get("vcs_info")
    if isinstance(vcs, dict) and vcs.get("vcs") == "git":
        ref = vcs.get("commit_id") or vcs.get("requested_revision")
        return f"lakestacks @ git+{url}" + (f"@{ref}" if ref else "")
    if "archive_info" in info and url.startswith(("https://", "http://")):
        return f"lakestacks @ {url}"
    if "dir_info" in info and url.startswith("file:"):
        # A checkout (often editable): its public git remote and commit, when it has one.
        return _from_checkout(Path(unquote(urlparse(url).path)))
    return None


def _from_checkout(folder: Path) -> str | None:
    remote = git(folder, "remote", "get-url", "origin")
    sha = git(folder, "rev-parse", "HEAD")
    if not remote or not sha or not remote.startswith("https://"):
        return None  # a local-only or ssh remote: CI could not fetch it
    return f"lakestacks @ git+{remote}@{sha}"
