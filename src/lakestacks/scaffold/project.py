"""`stacks init`, `stacks add ci` and `stacks update` over a project folder."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lakestacks import __version__
from lakestacks.errors import UserError
from lakestacks.scaffold.gitrepo import first_commit
from lakestacks.scaffold.names import package_name
from lakestacks.scaffold.render import STATE, ProjectState, questions, render
from lakestacks.scaffold.requirement import default_requirement, normalise_requirement
from lakestacks.scaffold.resources import CI_FLAVOURS, TEMPLATES, resources_root

__all__ = ["InitResult", "UpdateReport", "add_ci", "init_project", "update_project"]

# The answer (of the template and of every CI flavour) naming how lakestacks is installed.
REQUIREMENT = "lakestacks_requirement"


@dataclass
class InitResult:
    """A project ``stacks init`` made (or the files ``stacks add ci`` added).

    ``requirement`` is how its pyproject and CI install lakestacks; ``commit`` the first
    commit of the repository ``stacks init`` made (None when it made none, ``git`` says why).
    """

    path: Path
    template: str
    package: str
    ci: list[str]
    files: list[str]
    requirement: str = ""
    commit: str | None = None
    git: str = ""


@dataclass
class UpdateReport:
    """What ``stacks update`` did to each file the template changed.

    ``updated``: taken from the new template (unedited here); ``merged``: your edits and
    the template's, combined; ``added``/``removed``: new or dropped template files;
    ``kept``: your edit stays (the template dropped the file, or changed nothing you
    touched); ``conflicts``: both changed the same lines, left with conflict markers.
    """

    path: Path
    old_version: str
    new_version: str
    updated: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """True when the template brought nothing the project lacked."""
        changes = (self.updated, self.merged, self.added, self.removed, self.kept)
        return not any((*changes, self.conflicts))


def init_project(
    name: str,
    template: str = "tabular-classifier",
    ci: str = "github",
    directory: str | Path | None = None,
    *,
    force: bool = False,
    interactive: bool = False,
    config: str | Path | None = None,
    lakestacks_spec: str | None = None,
    git: bool = True,
) -> InitResult:
    """Make a new project from a template, as a git repository with a first commit.

    Args:
        name: The project's name; its package is the name with ``-`` as ``_``.
        template: A name in ``TEMPLATES``.
        ci: ``github``, ``gitlab`` or ``none``.
        directory: Where the project goes; default ``./NAME``.
        force: Write into a folder that is not empty (the template's files replace theirs).
        interactive: Ask the template's questions in the terminal.
        config: A YAML file of answers to the template's and the CI's questions.
        lakestacks_spec: How the project's pyproject and CI install lakestacks: a pip
            requirement, a version or a URL (``git+https://github.com/ORG/lakestacks@REF``).
            Default: the ``lakestacks_requirement`` answer of ``config``, else what is
            running now (``lakestacks==VERSION``, or the git commit it was installed from).
        git: ``git init`` the project and commit its files, unless it is already inside a
            repository or git is not installed (``InitResult.git`` says which).

    Example:
        >>> init_project("churn", directory="/tmp/churn").files[:2]  # doctest: +SKIP
        ['.github/workflows/ci.yml', '.github/workflows/deploy-prod.yml']
    """
    package = package_name(name)
    if template not in TEMPLATES:
        raise UserError(f"unknown template {template!r}; templates: {', '.join(TEMPLATES)}")
    flavours = _flavours(ci)
    dest = Path(directory) if directory is not None else Path(name)
    if dest.exists() and not dest.is_dir():
        raise UserError(f"{dest} is a file; choose another --dir")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise UserError(
            f"{dest} is not empty; choose another --dir, or add --force to write the "
            "project's files into it (files of the same name are replaced)"
        )
    fixed = {
        "project_name": name,
        "package": package,
        "lakestacks_version": __version__,
        **dict(TEMPLATES[template].fixed),
    }
    given = _config_answers(config, template, flavours, set(fixed))
    spec = lakestacks_spec if lakestacks_spec is not None else given["template"].get(REQUIREMENT)
    requirement = normalise_requirement(str(spec)) if spec is not None else default_requirement()
    for owner in given.values():
        owner[REQUIREMENT] = requirement
    answers = {**given.pop("template"), **fixed}
    rendered = render(template, answers, given, interactive=interactive)
    _write(dest, rendered.files)
    ProjectState(template, __version__, rendered.answers, rendered.ci_answers, rendered.files).save(
        dest
    )
    made = InitResult(dest, template, package, flavours, sorted(rendered.files), requirement)
    if git:
        branches = [
            str(a["default_branch"])
            for a in rendered.ci_answers.values()
            if a.get("default_branch")
        ]
        done = first_commit(
            dest,
            [*rendered.files, STATE.as_posix()],
            f"Scaffold {name} with lakestacks {__version__}",
            branch=branches[0] if branches else None,
        )
        made.commit, made.git = done.commit, done.note
    return made


def add_ci(project: str | Path, flavour: str, *, force: bool = False) -> InitResult:
    """Add a CI flavour (``github`` or ``gitlab``) to a project made by ``stacks init``."""
    dest = Path(project)
    state = ProjectState.load(dest)
    if flavour not in CI_FLAVOURS:
        raise UserError(f"unknown CI {flavour!r}; choose {', '.join(CI_FLAVOURS)}")
    if flavour in state.ci:
        raise UserError(f"{dest} already has {flavour} CI; `stacks update` refreshes it")
    requirement = str(state.answers.get(REQUIREMENT) or default_requirement())
    ci = {**state.ci, flavour: {REQUIREMENT: requirement}}
    rendered = render(state.template, state.answers, ci)
    new = {p: t for p, t in rendered.files.items() if p not in state.files}
    clash = sorted(p for p in new if (dest / p).exists())
    if clash and not force:
        raise UserError(
            f"{', '.join(clash)} already exist in {dest}; move them away or add --force"
        )
    _write(dest, new)
    state.ci = rendered.ci_answers
    state.files.update(new)
    state.save(dest)
    package = str(state.answers.get("package", ""))
    return InitResult(dest, state.template, package, sorted(state.ci), sorted(new), requirement)


def update_project(project: str | Path) -> UpdateReport:
    """Re-apply the installed template version to a project, keeping the user's edits.

    A three-way merge per file: the base is what the template rendered last time (kept in
    ``.stacks/template.json``), one side the file as it is now, the other the new render
    with the same answers. Questions new to the template take their defaults. A project
    pinned to the lakestacks version that rendered it last (``lakestacks==OLD``) is pinned to
    this one; any other requirement (a URL, a range) is the user's and stays.
    """
    dest = Path(project)
    state = ProjectState.load(dest)
    requirement = state.answers.get(REQUIREMENT)
    if requirement is None or requirement == f"lakestacks=={state.version}":
        requirement = default_requirement()
    answers = {**state.answers, "lakestacks_version": __version__, REQUIREMENT: requirement}
    ci = {flavour: {**a, REQUIREMENT: requirement} for flavour, a in state.ci.items()}
    rendered = render(state.template, answers, ci)
    report = UpdateReport(dest, state.version, __version__)
    base, theirs = state.files, rendered.files
    for path in sorted(set(base) | set(theirs)):
        old, new = base.get(path), theirs.get(path)
        if old == new:
            continue  # the template did not change it: whatever is here stays
        target = dest / path
        ours = target.read_text(encoding="utf-8") if target.is_file() else None
        if ours == new:
            continue
        if new is None:
            if ours == old:
                target.unlink()
                report.removed.append(path)
            elif ours is not None:
                report.kept.append(path)
            continue
        if ours is None:
            if old is None:
                _write(dest, {path: new})
                report.added.append(path)
            else:  # deleted here, changed in the template
                report.conflicts.append(path)
            continue
        if ours == old:
            _write(dest, {path: new})
            report.updated.append(path)
            continue
        text, clean = _merge3(ours, old or "", new)
        _write(dest, {path: text})
        (report.merged if clean else report.conflicts).append(path)
    state.version, state.answers, state.ci = __version__, rendered.answers, rendered.ci_answers
    state.files = theirs
    state.save(dest)
    return report


def _flavours(ci: str) -> list[str]:
    if ci == "none":
        return []
    if ci not in CI_FLAVOURS:
        raise UserError(f"unknown CI {ci!r}; choose {', '.join(CI_FLAVOURS)} or none")
    return [ci]


def _config_answers(
    config: str | Path | None, template: str, flavours: list[str], fixed: set[str]
) -> dict[str, dict[str, Any]]:
    """``--config`` answers split by template: ``{"template": {...}, "github": {...}}``."""
    out: dict[str, dict[str, Any]] = {"template": {}, **{f: {} for f in flavours}}
    if config is None:
        return out
    path = Path(config)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise UserError(f"cannot read answers from {path}: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: answers must be a mapping of question: answer")
    root = resources_root()
    owners = {"template": questions(root / "templates" / TEMPLATES[template].folder)}
    owners.update({f: questions(root / "ci" / f) for f in flavours})
    for key, value in data.items():
        where = [o for o, asked in owners.items() if key in asked and key not in fixed]
        if not where:
            allowed = sorted({q for asked in owners.values() for q in asked} - fixed)
            raise UserError(
                f"{path}: {key!r} is not a question of this template; questions: "
                f"{', '.join(allowed)}"
            )
        for owner in where:
            out[owner][str(key)] = value
    return out


def _write(dest: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def _merge3(ours: str, base: str, theirs: str) -> tuple[str, bool]:
    """``git merge-file`` of the three texts: the result and whether it merged cleanly."""
    git = shutil.which("git")
    if git is None:
        raise UserError("stacks update merges with `git merge-file`; install git and retry")
    with tempfile.TemporaryDirectory(prefix="lakestacks-merge-") as tmp:
        names = []
        for label, text in (("yours", ours), ("base", base), ("template", theirs)):
            path = Path(tmp) / label
            path.write_text(text, encoding="utf-8")
            names.append(str(path))
        labels = ["-L", "yours", "-L", "last template", "-L", "new template"]
        done = subprocess.run(  # noqa: S603 - git, with our own temp files
            [git, "merge-file", "-p", *labels, *names], capture_output=True, text=True, check=False
        )
    if done.returncode < 0 or done.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {done.stderr.strip()}")
    return done.stdout, done.returncode == 0
