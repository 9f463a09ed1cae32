"""Two pipeline runs that promote the same model at once: one champion, the loser refused
(not silently overwritten), and both attempts in the audit table."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakestacks import registry
from lakestacks.flows._records import audit_events
from lakestacks.spec import load_stack
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BARRIER = '''\
import os
import time
from pathlib import Path


def barrier(challenger, champion, folder):
    """Wait, after evaluating, until the test lets every racer promote at once."""
    Path(folder, os.environ["RACER"]).touch()
    deadline = time.monotonic() + 300
    while not Path(folder, "go").exists():
        if time.monotonic() > deadline:
            return False, "never released"
        time.sleep(0.05)
    return True, "released"
'''


def test_racing_promotions_end_with_one_champion_and_an_audited_refusal(
    project: Project, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    (project.root / "race_gate.py").write_text(BARRIER)
    project.set(
        "evaluation.gates",
        [{"function": "race_gate:barrier", "name": "barrier", "params": {"folder": str(gate)}}],
    )

    def start(racer: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "lakestacks.cli", "run", "--runner", "direct",
             "-s", str(project.path)],
            env={**os.environ, "RACER": racer},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def arrived(racer: str, process: subprocess.Popen[str]) -> None:
        deadline = time.monotonic() + 300
        while not (gate / racer).exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)

    # Both evaluate against "no champion" (the second starts once the first waits, so their
    # data prep does not overlap), then both promote at the same moment.
    first = start("a")
    arrived("a", first)
    second = start("b")
    arrived("b", second)
    (gate / "go").touch()
    results = [(*p.communicate(timeout=300), p.returncode) for p in (first, second)]

    codes = sorted(code for _, _, code in results)
    assert codes == [0, 2], results
    loser_err = next(err for _, err, code in results if code == 2)
    assert "the champion is now" in loser_err and "re-run the evaluation" in loser_err
    assert "Traceback" not in "".join(err for _, err, _ in results)

    resolved = load_stack(project.path)
    registry.configure(resolved.runtime.tracking_uri, resolved.runtime.registry_uri)
    champion = project.champion()
    assert champion in (1, 2)
    loser = 3 - champion
    cat = resolved.catalog
    events = audit_events(cat, "main.churn.churn_model")
    by_version = {v: [e["event"] for e in events if e["version"] == v] for v in (1, 2)}
    assert "promoted" in by_version[champion] and "promotion_refused" not in by_version[champion]
    assert "promotion_refused" in by_version[loser] and "promoted" not in by_version[loser]
    assert all("approved" in by_version[v] for v in (1, 2))  # both attempts on record
    refused = next(e for e in events if e["event"] == "promotion_refused")
    assert refused["champion_before"] is None and str(champion) in refused["reason"]
    assert (
        registry.get_version("main.churn.churn_model", loser).tags["lakestacks.status"]
        == "promotion_refused"
    )
