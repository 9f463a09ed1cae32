"""`stacks init`, `stacks add ci` and `stacks update`, end to end: every template is rendered,
its own tests run (and fail when its feature function breaks), its pipeline reaches a
champion, and every CI flavour passes its linter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from lakestacks import __version__, api
from tests.conftest import REPO

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent
# (template, CI flavour, answers): each template once, each with a different CI and model.
CASES = {
    "tabular-classifier": ("github", "custom_model: false\n"),
    "regression": ("gitlab", "custom_model: true\ndescription: House prices.\n"),
}
# Each template's quality bound in the base stack, and one no model of its test run reaches.
UNREACHABLE = {
    "tabular-classifier": ("{metric: roc_auc, min: 0.7}", "{metric: roc_auc, min: 0.99}"),
    "regression": ("{metric: r2, min: 0.5}", "{metric: r2, min: 0.99}"),
}
ENVS = ("dev", "test", "staging", "prod")
TORCH_CPU = "pip install torch --index-url https://download.pytorch.org/whl/cpu"
PINNED = f"lakestacks=={__version__}"


def stacks(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def pytest_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )


def git(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=project, capture_output=True, text=True, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return done.stdout


def make(
    tmp: Path,
    template: str,
    name: str = "acme-model",
    ci: str | None = None,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Path:
    flavour, answers = CASES[template]
    config = tmp / "answers.yaml"
    config.write_text(answers)
    made = stacks(
        "init", name, "--template", template, "--ci", ci or flavour, "--no-input",
        "--config", str(config), "--json", *extra, cwd=tmp, env=env,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stderr == ""
    return tmp / json.loads(made.stdout)["path"]


@pytest.mark.slow
@pytest.mark.parametrize("template", list(CASES))
def test_a_new_project_passes_its_tests_and_its_pipeline_reaches_a_champion(
    tmp_path: Path, template: str
) -> None:
    project = make(tmp_path, template)
    package = "acme_model"
    assert (project / "src" / package / "features.py").is_file()
    assert (project / "src" / package / "model.py").is_file() == (template == "regression")
    assert {p.name for p in (project / "flows").iterdir()} >= {"pipeline.py", "batch_inference.py"}
    for env in ("dev", "test", "staging", "prod"):
        checked = stacks("validate", "--env", env, cwd=project)
        assert checked.returncode == 0, checked.stderr

    # Its own tests: the unit tests and the whole pipeline on the sample data.
    own = pytest_in(project)
    assert own.returncode == 0, own.stdout[-3000:]
    assert "4 passed" in own.stdout

    # The same tests fail once the feature function is broken.
    features = project / "src" / package / "features.py"
    good = features.read_text()
    features.write_text(good.replace("return ", "return  # broken\n    return None  #", 1))
    broken = pytest_in(project, "tests/unit")
    assert broken.returncode == 1
    assert "failed" in broken.stdout and "test_adds_the_" in broken.stdout
    features.write_text(good)

    # The `test` environment checks that the pipeline works, not the model: a model short of
    # the production bound still gets through, its failed gate decided and reported.
    stack = project / "stack.yaml"
    stack.write_text(stack.read_text().replace(*UNREACHABLE[template]))
    lake = {"STACKS_TEST_LAKE": str(tmp_path / "lake")}
    ran = stacks("run", "--env", "test", cwd=project, env=lake)
    assert ran.returncode == 0, ran.stderr
    assert "v1 is the champion" in ran.stdout
    ref = "acme_model_model@champion"
    seen = stacks("lineage", ref, "--env", "test", "--json", cwd=project, env=lake)
    assert seen.returncode == 0, seen.stderr
    lineage = json.loads(seen.stdout)
    failed = [(d["gate"], d["mode"]) for d in lineage["decisions"] if not d["passed"]]
    metric = "roc_auc" if template == "tabular-classifier" else "r2"
    assert failed == [(f"{metric} >= 0.99", "dry_run")]
    # The run was recorded against the first commit `stacks init` made, and left nothing
    # for git to pick up but the edit.
    assert lineage["git_sha"] == git(project, "rev-parse", "HEAD").strip()
    assert git(project, "status", "--porcelain", "--untracked-files=all") == " M stack.yaml\n"


@pytest.mark.parametrize("template", list(CASES))
def test_the_test_environment_decides_the_gates_without_blocking(
    tmp_path: Path, template: str
) -> None:
    project = make(tmp_path, template, ci="none")
    modes = {e: api.load_stack(project / "stack.yaml", env=e).stack.evaluation for e in ENVS}
    assert {e: m.mode for e, m in modes.items() if m} == {
        "dev": "enforce", "test": "dry_run", "staging": "enforce", "prod": "enforce"
    }  # fmt: skip
    assert modes["test"] and modes["test"].gates == modes["prod"].gates  # the same gates, reported
    assert "dry_run" in (project / "README.md").read_text()


def test_init_makes_a_git_repository_with_a_first_commit(tmp_path: Path) -> None:
    project = make(tmp_path, "tabular-classifier")
    assert git(project, "log", "--format=%s").splitlines() == [
        f"Scaffold acme-model with lakestacks {__version__}"
    ]
    assert git(project, "branch", "--show-current") == "main\n"  # the CI's default branch
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""
    tracked = git(project, "ls-files").splitlines()
    assert {".stacks/template.json", "stack.yaml", ".github/workflows/ci.yml"} <= set(tracked)
    # What running the project leaves behind stays out of git.
    for path in (
        ".lake/main/t/x.parquet", ".lake-test/mlflow.db", "mlflow.db", "mlruns/0/meta.yaml",
        ".venv/bin/python", "src/acme_model/__pycache__/features.cpython-311.pyc",
        ".pytest_cache/v", "acme_model.egg-info/PKG-INFO", "dist/acme-0.1.0.whl",
    ):  # fmt: skip
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text("x")
    assert git(project, "status", "--porcelain", "--untracked-files=all") == ""


def test_init_commits_without_a_git_identity_and_writes_none(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    bare = {"HOME": str(home), "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    made = stacks("init", "acme", "--ci", "none", "--no-input", "--json", cwd=tmp_path, env=bare)
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    project = tmp_path / "acme"
    assert result["commit"] == git(project, "rev-parse", "HEAD", env=bare).strip()
    author = git(project, "log", "--format=%an <%ae>", env=bare)
    assert author == "lakestacks <lakestacks@localhost>\n"
    assert "git has no user.name/user.email" in result["git"]
    assert git(project, "config", "--local", "--get", "user.email", env=bare) == ""
    assert list(home.iterdir()) == []  # no global configuration written


def test_init_makes_no_repository_when_told_or_inside_one(tmp_path: Path) -> None:
    plain = stacks("init", "plain", "--ci", "none", "--no-input", "--no-git", cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert not (tmp_path / "plain" / ".git").exists() and "git:" not in plain.stdout
    assert (tmp_path / "plain" / "stack.yaml").is_file()

    mono = tmp_path / "mono"
    mono.mkdir()
    git(mono, "init", "-q")
    inner = stacks(
        "init", "inner", "--ci", "none", "--no-input", "--dir", "mono/inner", cwd=tmp_path
    )
    assert inner.returncode == 0, inner.stderr
    assert not (mono / "inner" / ".git").exists()
    assert f"git: already inside the git repository {mono}" in inner.stdout
    assert git(mono, "status", "--porcelain") == "?? inner/\n"  # left for the user to commit

    no_git = {"PATH": str(tmp_path / "empty")}  # python is sys.executable; git is nowhere
    bare = stacks("init", "bare", "--ci", "none", "--no-input", cwd=tmp_path, env=no_git)
    assert bare.returncode == 0, bare.stderr
    assert "git: git is not installed: no repository made" in bare.stdout
    assert not (tmp_path / "bare" / ".git").exists()


@pytest.mark.parametrize("template", list(CASES))
@pytest.mark.parametrize("flavour", ["github", "gitlab"])
def test_every_ci_flavour_of_every_template_passes_its_linter(
    tmp_path: Path, template: str, flavour: str
) -> None:
    project = make(tmp_path, template, ci=flavour)
    if flavour == "github":
        workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
        assert [w.name for w in workflows] == ["ci.yml", "deploy-prod.yml", "deploy-staging.yml"]
        text = (project / ".github/workflows/ci.yml").read_text()
        assert "stacks validate --env staging" in text and "stacks run --env test" in text
        assert "${{ github.ref }}" in text  # GitHub's own expressions pass through
        lint = [str(BIN / "actionlint"), *map(str, workflows)]
    else:
        workflows = [project / ".gitlab-ci.yml"]
        text = workflows[0].read_text()
        assert "stacks deploy --env prod" in text and "$CI_COMMIT_TAG" in text
        lint = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci"]
        lint.append(str(project / ".gitlab-ci.yml"))
    # Every install: torch's CPU wheel first, then the lakestacks that made the project.
    for workflow in workflows:
        installs = [
            line.strip(" -") for line in workflow.read_text().splitlines() if "pip install" in line
        ]
        assert installs and installs[0::2] == [TORCH_CPU] * (len(installs) // 2), workflow
        assert {i.split(" -e ")[0] for i in installs[1::2]} == {f'pip install "{PINNED}"'}
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [PINNED]
    done = subprocess.run(lint, capture_output=True, text=True, cwd=project, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lakestacks_from_git_reaches_pyproject_and_every_ci(tmp_path: Path) -> None:
    url = "git+https://github.com/acme/lakestacks@v0.2.0"
    project = make(tmp_path, "regression", "acme-model", "gitlab", "--lakestacks-spec", url)
    requirement = f"lakestacks @ {url}"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dependencies"] == [requirement]
    assert pyproject["tool"]["hatch"]["metadata"]["allow-direct-references"] is True
    assert f'pip install "{requirement}" -e ".[dev]"' in (project / ".gitlab-ci.yml").read_text()
    added = stacks("add", "ci", "github", "--dir", str(project), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    for workflow in ("ci", "deploy-staging", "deploy-prod"):
        text = (project / f".github/workflows/{workflow}.yml").read_text()
        assert f'pip install "{requirement}" -e ' in text and TORCH_CPU in text
    lint = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci"]
    done = subprocess.run([*lint, str(project / ".gitlab-ci.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # A requirement that is not one is refused before anything is written.
    refused = stacks("init", "other", "--no-input", "--lakestacks-spec", "torch", cwd=tmp_path)
    assert refused.returncode == 2 and "not a pip requirement for lakestacks" in refused.stderr
    assert not (tmp_path / "other").exists()


def test_the_ci_linters_catch_a_broken_file(tmp_path: Path) -> None:
    # The linters used above can fail: a job with no steps, a job with an unknown `when`.
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n")
    assert subprocess.run([str(BIN / "actionlint"), str(bad)], capture_output=True).returncode
    gitlab = tmp_path / ".gitlab-ci.yml"
    gitlab.write_text("job:\n  script: [echo]\n  when: sometimes\n")
    check = [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", str(gitlab)]
    assert subprocess.run(check, capture_output=True).returncode


def test_add_ci_to_a_project_made_without_it(tmp_path: Path) -> None:
    project = make(tmp_path, "tabular-classifier", ci="none")
    assert not (project / ".github").exists()
    added = stacks("add", "ci", "github", "--dir", str(project), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert (project / ".github/workflows/ci.yml").is_file()
    state = json.loads((project / ".stacks/template.json").read_text())
    assert list(state["ci"]) == ["github"] and ".github/workflows/ci.yml" in state["files"]
    again = stacks("add", "ci", "github", "--dir", str(project), cwd=tmp_path)
    assert again.returncode == 2 and "already has github CI" in again.stderr
    none = stacks("add", "ci", "none", "--dir", str(project), cwd=tmp_path)
    assert none.returncode == 2 and "unknown CI 'none'; choose github, gitlab\n" in none.stderr


def _newer_template(tmp: Path, edit: tuple[str, str]) -> dict[str, str]:
    """A copy of the shipped resources with one stack line changed and a file added."""
    root = tmp / "resources"
    for part in ("templates", "ci", "flows"):
        shutil.copytree(REPO / part, root / part)
    stack = root / "templates/tabular/stack.yaml.jinja"
    text = stack.read_text()
    assert edit[0] in text
    stack.write_text(text.replace(edit[0], edit[1]))
    (root / "flows" / "monitoring.py").write_text('"""A new entrypoint."""\n')
    return {"STACKS_RESOURCES": str(root)}


def test_update_keeps_user_edits_and_brings_in_template_changes(tmp_path: Path) -> None:
    project = make(tmp_path, "tabular-classifier", ci="none")
    stack = project / "stack.yaml"
    mine = stack.read_text().replace("max_epochs: 20", "max_epochs: 50")  # the user's edit
    stack.write_text(mine)
    (project / "src/acme_model/features.py").write_text("# mine\n")
    env = _newer_template(tmp_path, ('pipeline: "0 3 * * 1"', 'pipeline: "0 4 * * 1"'))
    done = stacks("update", "--dir", str(project), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["merged"] == ["stack.yaml"] and report["added"] == ["flows/monitoring.py"]
    assert report["conflicts"] == [] and report["updated"] == []
    text = stack.read_text()
    assert "max_epochs: 50" in text and 'pipeline: "0 4 * * 1"' in text
    assert (project / "src/acme_model/features.py").read_text() == "# mine\n"  # untouched
    assert (project / "flows/monitoring.py").is_file()
    # Nothing new since: a second update changes nothing.
    again = stacks("update", "--dir", str(project), "--json", cwd=tmp_path, env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["merged"] == []


def test_update_reports_a_conflicting_edit(tmp_path: Path) -> None:
    project = make(tmp_path, "tabular-classifier", ci="none")
    stack = project / "stack.yaml"
    stack.write_text(stack.read_text().replace('pipeline: "0 3 * * 1"', 'pipeline: "0 5 * * *"'))
    env = _newer_template(tmp_path, ('pipeline: "0 3 * * 1"', 'pipeline: "0 4 * * 1"'))
    done = stacks("update", "--dir", str(project), cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert "CONFLICT: stack.yaml" in done.stdout
    assert done.stderr.startswith(
        "error: 1 file(s) changed both here and in the template: stack.yaml"
    )
    assert "Traceback" not in done.stderr
    text = stack.read_text()
    assert "<<<<<<< yours" in text and '"0 5 * * *"' in text and '"0 4 * * 1"' in text


def test_init_refuses_a_folder_that_is_not_empty_unless_forced(tmp_path: Path) -> None:
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "notes.txt").write_text("keep me")
    refused = stacks("init", "acme", "--no-input", cwd=tmp_path)
    assert refused.returncode == 2 and "acme is not empty" in refused.stderr
    assert sorted(p.name for p in (tmp_path / "acme").iterdir()) == ["notes.txt"]
    forced = stacks("init", "acme", "--no-input", "--force", "--ci", "none", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "acme" / "stack.yaml").is_file()
    assert (tmp_path / "acme" / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../x", "'../x' is a path, not a name"),
        ("import", "'import' is a Python keyword"),
        ("my project", "'my project' has a space"),
    ],
)
def test_bad_names_are_refused_with_what_to_use_instead(
    tmp_path: Path, name: str, why: str
) -> None:
    refused = stacks("init", name, "--no-input", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"error: {why}") and "e.g." in refused.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_init_works_from_the_built_wheel(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = subprocess.run(
        [*build, "-w", str(dist), str(REPO)], capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr
    [wheel] = dist.glob("lakestacks-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for shipped in ("templates/tabular/copier.yml", "ci/github/copier.yml", "flows/pipeline.py"):
        assert f"lakestacks/_resources/{shipped}" in names
    # The wheel's lakestacks, not the checkout's: PYTHONPATH comes before the editable install.
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STACKS_RESOURCES"}
    env["PYTHONPATH"] = str(tmp_path / "site")
    probe = "import lakestacks.scaffold.resources as r; print(r.resources_root())"
    where = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert where.stdout.strip() == str(tmp_path / "site" / "lakestacks" / "_resources")
    made = subprocess.run(
        [sys.executable, "-m", "lakestacks.cli", "init", "acme", "--no-input"],
        cwd=work, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    for path in (
        "stack.yaml",
        "flows/pipeline.py",
        ".github/workflows/ci.yml",
        "src/acme/model.py",
    ):
        assert (work / "acme" / path).is_file() == (path != "src/acme/model.py")


@pytest.mark.skipif(sys.platform != "linux", reason="drives a pseudo-terminal")
def test_in_a_terminal_init_asks_its_questions(tmp_path: Path) -> None:
    import pty
    import select
    import time

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lakestacks.cli", "init", "acme", "--ci", "none"],
        stdin=slave, stdout=slave, stderr=slave, cwd=tmp_path,
        env={**os.environ, "TERM": "xterm", "COLUMNS": "120"},
    )  # fmt: skip
    os.close(slave)
    seen = b""

    def answer(prompt: str, keys: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while prompt.encode() not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                seen += os.read(master, 4096)
        assert prompt.encode() in seen, seen.decode(errors="replace")[-2000:]
        os.write(master, keys)

    answer("One line on what the model does", b" Asked: in a terminal.\r")
    answer("Write your own LightningModule", b"y\r")
    answer("Training epochs", b"\r")
    assert proc.wait(timeout=120) == 0
    os.close(master)
    stack = (tmp_path / "acme" / "stack.yaml").read_text()
    assert "Asked: in a terminal." in stack  # quoted: a colon in an answer stays YAML-safe
    assert "model: acme.model:Classifier" in stack
    checked = stacks("validate", cwd=tmp_path / "acme")
    assert checked.returncode == 0, checked.stderr
