"""Monitoring on real parts: a trained champion, an inference table of hourly windows in the
past (times the test controls), `stacks monitor`, both metric tables, the breach rule and
the forced retrain it triggers, judged against the champion."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakestacks import api
from lakestacks.data.split import SPLIT_COLUMN
from lakestacks.data.tables import read_table, table_exists, write_table
from lakestacks.flows._records import audit_events
from tests.e2e.conftest import Project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "main.churn.churn_model"
STACKS = str(Path(sys.executable).parent / "stacks")
START = datetime(2026, 6, 1, tzinfo=UTC)
FEATURES = ["tenure", "monthly_charges", "contract", "support_calls"]


def _windows(project: Project, hours: range, shift: bool, seed: int) -> pa.Table:
    """Rows drawn from the customers' train split, one hour each; shifted: longer tenure and
    higher charges, as after a price change."""
    customers = read_table(str(project.lake / "main/churn/customers"))
    rng = np.random.default_rng(seed)
    parts = []
    for hour in hours:
        picked = customers.take(rng.integers(0, customers.num_rows, 800))
        if shift:
            picked = picked.set_column(
                picked.schema.get_field_index("tenure"), "tenure",
                pc.add(pc.multiply(picked["tenure"], 2), 12),
            )  # fmt: skip
            picked = picked.set_column(
                picked.schema.get_field_index("monthly_charges"), "monthly_charges",
                pc.add(picked["monthly_charges"], 40.0),
            )  # fmt: skip
        stamps = [
            START + timedelta(hours=hour, seconds=float(s)) for s in rng.uniform(0, 3600, 800)
        ]
        rows = picked.select(FEATURES).append_column(
            "timestamp", pa.array(stamps, pa.timestamp("us", tz="UTC"))
        )
        rows = rows.append_column("model_version", pa.array([1] * rows.num_rows, pa.int64()))
        rows = rows.append_column("status", pa.array([200] * rows.num_rows, pa.int32()))
        ids = [f"h{hour}-{i}" for i in range(rows.num_rows)]
        probability = rng.beta(2, 5, rows.num_rows)
        rows = rows.append_column("request_id", pa.array(ids))
        rows = rows.append_column("probability", pa.array(probability))
        rows = rows.append_column("prediction", pa.array((probability >= 0.5).astype(np.int64)))
        parts.append(rows)
    return pa.concat_tables(parts)


def _stack(project: Project) -> None:
    project.set("deployment.serving", {"inference_table": "inference_log"})
    project.set(
        "monitoring",
        {
            "table": "inference_log",
            "baseline": "customers",
            "granularity": "1h",
            "columns": FEATURES,
            "rule": {"windows": 3, "of": 5},
            "labels": {"table": "churn_labels", "key": "request_id"},
            "on_breach": "retrain",
        },
    )


@dataclass
class Scenario:
    project: Project
    quiet: dict[str, Any]  # stacks monitor --json after 6 windows like the baseline
    shifted: dict[str, Any]  # after 4 more, shifted
    again: dict[str, Any]  # a rerun with nothing new

    @property
    def lake(self) -> Path:
        return self.project.lake


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    project = Project(tmp_path_factory.mktemp("monitoring"))
    _stack(project)
    assert project.run().status == "promoted"
    log = str(project.lake / "main/churn/inference_log")
    write_table(log, _windows(project, range(0, 6), shift=False, seed=1), mode="append")
    quiet = _monitor(project)
    # Labels for the first six windows arrive after they were computed: drawn with the
    # logged probabilities, so these are calibrated.
    logged = read_table(log, columns=["request_id", "probability"])
    draws = np.random.default_rng(5).random(logged.num_rows)
    churned = (draws < logged["probability"].to_numpy()).astype(np.int64)
    labels = pa.table({"request_id": logged["request_id"], "churned": churned})
    write_table(str(project.lake / "main/churn/churn_labels"), labels)
    write_table(log, _windows(project, range(6, 10), shift=True, seed=2), mode="append")
    shifted = _monitor(project)
    return Scenario(project, quiet, shifted, _monitor(project))


def _monitor(project: Project, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [STACKS, "monitor", "--stack", str(project.path), "--runner", "direct", "--json", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _events(project: Project) -> list[dict[str, Any]]:
    return audit_events(api.load_stack(project.path).catalog, MODEL)


def test_drift_breaches_after_k_windows_and_retrains_against_the_champion(
    scenario: Scenario,
) -> None:
    lake = scenario.lake
    assert table_exists(str(lake / "main/churn/inference_log_profile_metrics"))
    drift = read_table(str(lake / "main/churn/inference_log_drift_metrics"))
    against = drift["against"].to_pylist()
    assert against.count("baseline") == 10 * len(FEATURES)  # the first six were not redone
    assert against.count("previous") == 9 * len(FEATURES)  # the second run's first window too
    drift = drift.filter(pc.equal(drift["against"], "baseline"))
    first_six = drift.filter(pc.less(drift["window_start"], pa.scalar(START + timedelta(hours=6))))
    assert not any(first_six["drifted"].to_pylist())  # the baseline's own distribution
    assert "drift breach" not in json.dumps(scenario.quiet)
    events = _events(scenario.project)
    breaches = [e for e in events if e["event"] == "drift_breach"]
    assert len(breaches) == 1
    details = json.loads(breaches[0]["details"])
    # Shifted from hour 6: windows 6 and 7 violate, the third (8) breaches the 3-of-5 rule.
    assert details["window_start"] == (START + timedelta(hours=8)).isoformat()
    assert {"tenure", "monthly_charges"} <= set(details["drifted"])
    # The breach retrained, forced (same data, stack and code), and judged v2 against v1.
    after = events[events.index(breaches[0]) :]
    assert any(e["event"] == "registered" and e["version"] == 2 for e in after)
    assert '"retrain": {"what": "ran"' in json.dumps(scenario.shifted)
    # A rerun finds nothing new and breaches no more.
    assert "no new complete window" in json.dumps(scenario.again)
    assert [e["event"] for e in _events(scenario.project)].count("drift_breach") == 1


def test_late_labels_fill_in_the_realised_quality_of_their_windows(scenario: Scenario) -> None:
    quality = read_table(str(scenario.lake / "main/churn/inference_log_quality_metrics"))
    by_kind: dict[str, set[datetime]] = {}
    for row in quality.to_pylist():
        by_kind.setdefault(row["kind"], set()).add(row["window_start"])
    hours = {k: sorted((w - START) // timedelta(hours=1) for w in v) for k, v in by_kind.items()}
    assert hours == {"estimated": list(range(10)), "realised": list(range(6))}
    for row in quality.filter(pc.equal(quality["metric"], "accuracy")).to_pylist():
        if row["kind"] == "realised":  # calibrated labels: the estimate is close
            [estimate] = [
                r["value"]
                for r in quality.to_pylist()
                if r["kind"] == "estimated"
                and r["metric"] == "accuracy"
                and r["window_start"] == row["window_start"]
            ]
            assert abs(estimate - row["value"]) < 0.06


def test_the_monitoring_page_renders_offline_in_headless_chromium(scenario: Scenario) -> None:
    from io import BytesIO

    from PIL import Image
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("STACKS_REQUIRE_SERVICES") == "1":
            pytest.fail("chromium is required (STACKS_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("needs headless Chromium (apt-get install -y chromium)")
    page_path = Path(_monitor(scenario.project, "--report")["report"])
    assert page_path.parent == scenario.lake / "_reports"
    errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        sections = page.eval_on_selector_all("section", "nodes => nodes.map(n => n.id)")
        lines = page.eval_on_selector_all(
            "polyline.series", "nodes => nodes.filter(n => n.getAttribute('points')).length"
        )
        text = page.inner_text("body")
        shot = page.screenshot(full_page=True)
        browser.close()
    assert errors == []
    assert requests == [page_path.as_uri()]  # nothing but the file itself
    assert sections == ["drift", "distributions", "latest", "quality", "breaches"]
    assert lines >= 2 * len(FEATURES)  # a drift chart and a distribution chart per column
    assert "10 windows" in text and "monthly_charges" in text and "drifted" in text
    gray = Image.open(BytesIO(shot)).convert("L")
    dark = sum(gray.histogram()[:200])
    assert dark > 20_000  # charts and text drawn, not a blank page


def test_a_missing_baseline_is_one_clear_error(tmp_path: Path) -> None:
    project = Project(tmp_path)
    _stack(project)  # its baseline, customers, is declared but no data prep wrote it yet
    done = subprocess.run(
        [STACKS, "monitor", "--stack", str(project.path), "--runner", "direct"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: monitoring.baseline main.churn.customers does not exist")


def test_a_run_that_dies_between_the_tables_is_written_once_by_the_next(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profile rows written, then the process dies before the drift rows: the rerun
    recomputes the window and merges, so no row is there twice."""
    from lakestacks.flows import monitoring

    project = scenario.project
    log = str(project.lake / "main/churn/inference_log")
    write_table(log, _windows(project, range(10, 11), shift=False, seed=3), mode="append")
    real = monitoring.write_table

    def dies_before_drift(path: str, data: pa.Table, **kwargs: Any) -> int:
        if path.endswith("_drift_metrics"):
            raise KeyboardInterrupt  # the process is gone
        return real(path, data, **kwargs)

    monkeypatch.setattr(monitoring, "write_table", dies_before_drift)
    with pytest.raises(KeyboardInterrupt):
        api.run(project.path, flow="monitoring", runner="direct")
    monkeypatch.setattr(monitoring, "write_table", real)
    api.run(project.path, flow="monitoring", runner="direct")
    lake = project.lake / "main/churn"
    for kind in ("profile", "drift"):
        rows = read_table(str(lake / f"inference_log_{kind}_metrics"))
        if kind == "drift":
            rows = rows.filter(pc.equal(rows["against"], "baseline"))
        keys = list(zip(rows["window_start"].to_pylist(), rows["column"].to_pylist(), strict=True))
        assert len(keys) == len(set(keys)) == 11 * len(FEATURES), kind


def test_served_traffic_that_shifts_breaches_and_retrains(tmp_path: Path) -> None:
    """The whole loop on real parts: `stacks serve` logs real requests, whose windows are
    2 s of the server's clock; normal traffic, then shifted traffic; `stacks monitor` finds
    the breach after the rule's windows, retrains, and `stacks lineage` shows it."""
    import signal
    import socket
    import time

    import httpx

    project = Project(tmp_path)
    _stack(project)
    project.set("monitoring.granularity", "2s")
    project.set("monitoring.rule", {"windows": 2, "of": 3})
    project.set("deployment.serving.log", {"flush_seconds": 0.5})
    assert project.run().status == "promoted"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [STACKS, "serve", "--stack", str(project.path), "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    customers = read_table(str(project.lake / "main/churn/customers")).to_pylist()
    columns = [c for c in customers[0] if c not in ("customer_id", "churned", SPLIT_COLUMN)]
    rng = np.random.default_rng(9)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if http.get("/ping").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            phases = {}
            for phase, shift in (("normal", False), ("shifted", True)):
                phases[phase] = datetime.now(UTC)
                end = time.monotonic() + 6.5  # three 2 s windows and a bit
                while time.monotonic() < end:
                    rows = []
                    for i in rng.integers(0, len(customers), 40):
                        row = {c: customers[int(i)][c] for c in columns}
                        if shift and row["tenure"] is not None:
                            row["tenure"] = row["tenure"] * 2 + 12
                            row["monthly_charges"] = (row["monthly_charges"] or 60.0) + 40.0
                        rows.append(row)
                    got = http.post("/invocations", json={"dataframe_records": rows})
                    assert got.status_code in (200, 400), got.text  # 400: a null it refuses
                    time.sleep(0.05)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    time.sleep(2.1)  # the last window is complete
    _monitor(project)
    events = _events(project)
    breaches = [e for e in events if e["event"] == "drift_breach"]
    assert len(breaches) == 1, [e["event"] for e in events]
    window = datetime.fromisoformat(json.loads(breaches[0]["details"])["window_start"])
    assert window >= phases["shifted"] - timedelta(seconds=2)  # none before the shift
    assert any(e["event"] == "registered" and e["version"] == 2 for e in events)
    lineage = subprocess.run(
        [STACKS, "lineage", f"{MODEL}/1", "--stack", str(project.path)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "drift_breach" in lineage.stdout


def test_a_breach_while_a_retrain_runs_starts_no_second_one(scenario: Scenario) -> None:
    from lakestacks.flows.retrain import _retrain_lock, retrain

    ctx = api._context(scenario.project.path, "dev", notify=False)
    with _retrain_lock(ctx.catalog.lake) as held:  # the retrain of an earlier breach
        assert held
        outcome = retrain(ctx, None)  # flock: a second open file conflicts, even here
    assert (outcome.what, outcome.detail) == (
        "skipped",
        "a retrain started by an earlier breach is still running",
    )
    assert retrain(ctx, trained_now=3).detail == "this run trained v3 already"
