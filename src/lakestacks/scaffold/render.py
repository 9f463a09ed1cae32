"""Rendering a project: Copier over ``templates/`` and ``ci/``, plus the ``flows/`` files.

Everything is rendered into a temporary folder first, so a failed render writes nothing into
the project, and what was rendered is kept (``.stacks/template.json``) as the base of the
three-way merge that ``stacks update`` does.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakestacks.errors import UserError
from lakestacks.scaffold.resources import TEMPLATES, resources_root

__all__ = ["STATE", "ProjectState", "Rendered", "questions", "render"]

STATE = Path(".stacks") / "template.json"


@dataclass
class Rendered:
    """The files a render made (relative POSIX path -> text) and the answers it used."""

    files: dict[str, str]
    answers: dict[str, Any]
    ci_answers: dict[str, dict[str, Any]]


@dataclass
class ProjectState:
    """What a project was made from: kept in ``.stacks/template.json`` for ``stacks update``.

    Attributes:
        template: The template's name, e.g. ``tabular-classifier``.
        version: The lakestacks version that rendered it last.
        answers: The template's answers.
        ci: The CI flavours added, with their answers.
        files: The files as last rendered, the merge base of the next update.
    """

    template: str
    version: str
    answers: dict[str, Any]
    ci: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, project: Path) -> ProjectState:
        path = project / STATE
        if not path.is_file():
            raise UserError(
                f"{project} has no {STATE}: run this in a project made by `stacks init`"
            )
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as err:
            raise UserError(f"{path} is damaged ({err}); restore it from version control") from None

    def save(self, project: Path) -> None:
        path = project / STATE
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(asdict(self), indent=1, sort_keys=True)
        partial = path.with_suffix(".partial")
        partial.write_text(text + "\n", encoding="utf-8")
        partial.replace(path)


def questions(folder: Path) -> list[str]:
    """The questions a Copier template asks (its ``copier.yml`` keys not starting with _)."""
    spec = yaml.safe_load((folder / "copier.yml").read_text(encoding="utf-8")) or {}
    return [k for k in spec if not k.startswith("_")]


def render(
    template: str,
    answers: dict[str, Any],
    ci: dict[str, dict[str, Any]],
    *,
    interactive: bool = False,
) -> Rendered:
    """Render ``template`` and the ``ci`` flavours with these answers, into memory.

    Args:
        template: A name in ``TEMPLATES``.
        answers: The template's answers; those missing are asked (``interactive``) or take
            their defaults.
        ci: Flavour (``github``, ``gitlab``) -> its answers.
        interactive: Ask the questions without an answer in the terminal.

    Returns:
        The rendered files and the answers used.
    """
    root = resources_root()
    folder = root / "templates" / TEMPLATES[template].folder
    with tempfile.TemporaryDirectory(prefix="lakestacks-init-") as tmp:
        out = Path(tmp) / "project"
        used = _copier(folder, out, answers, interactive)
        (out / "flows").mkdir(exist_ok=True)
        for entry in sorted((root / "flows").glob("*.py")):
            shutil.copyfile(entry, out / "flows" / entry.name)
        ci_used = {f: _copier(root / "ci" / f, out, a, interactive) for f, a in ci.items()}
        files = {
            p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(out.rglob("*"))
            if p.is_file()
        }
    return Rendered(files, used, ci_used)


def _copier(src: Path, dst: Path, data: dict[str, Any], interactive: bool) -> dict[str, Any]:
    from copier import run_copy
    from copier.errors import CopierError

    try:
        worker = run_copy(
            str(src), dst, data=data, defaults=not interactive, overwrite=True, quiet=True
        )
    except (CopierError, ValueError) as err:
        raise UserError(f"could not render {src.name}: {err}") from None
    combined: dict[str, Any] = dict(worker.answers.combined)
    return {k: combined[k] for k in questions(src) if k in combined}
