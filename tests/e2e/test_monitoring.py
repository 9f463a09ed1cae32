"""Monitoring on real parts: a trained champion, an inference table of hourly windows in the
past (times the test controls), `stacks monitor`, both metric tables, the breach rule and
the forced retrain it triggers, judged against the champion."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lakestacks import api
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
        parts.append(rows)
    return pa.concat_tables(parts)


@pytest.fixture
def monitored(project: Project) -> Project:
    project.set("deployment.serving", {"inference_table": "inference_log"})
    project.set(
        "monitoring",
        {
            "table": "inference_log",
            "baseline": "customers",
            "granularity": "1h",
            "columns": FEATURES,
            "rule": {"windows": 3, "of": 5},
            "on_breach": "retrain",
        },
    )
    assert project.run().status == "promoted"
    return project


def _monitor(project: Project, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [STACKS, "monitor", "--stack", str(project.path), "--runner", "direct", "--json", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_drift_breaches_after_k_windows_and_retrains_against_the_champion(
    monitored: Project,
) -> None:
    log = str(monitored.lake / "main/churn/inference_log")
    write_table(log, _windows(monitored, range(0, 6), shift=False, seed=1), mode="append")
    quiet = _monitor(monitored)
    assert table_exists(str(monitored.lake / "main/churn/inference_log_profile_metrics"))
    drift = read_table(str(monitored.lake / "main/churn/inference_log_drift_metrics"))
    assert drift.num_rows == 6 * len(FEATURES)
    assert not any(drift["drifted"].to_pylist())  # the baseline's own distribution
    assert "drift breach" not in json.dumps(quiet)
    assert [e["event"] for e in audit_events(monitored_catalog(monitored), MODEL)].count(
        "drift_breach"
    ) == 0

    # Shifted traffic from hour 6 on: windows 6, 7 violate; the third (8) breaches (3 of 5).
    write_table(log, _windows(monitored, range(6, 10), shift=True, seed=2), mode="append")
    _monitor(monitored)
    drift = read_table(str(monitored.lake / "main/churn/inference_log_drift_metrics"))
    assert drift.num_rows == 10 * len(FEATURES)  # the first six windows were not redone
    events = audit_events(monitored_catalog(monitored), MODEL)
    breaches = [e for e in events if e["event"] == "drift_breach"]
    assert len(breaches) == 1
    details = json.loads(breaches[0]["details"])
    assert details["window_start"] == (START + timedelta(hours=8)).isoformat()
    assert {"tenure", "monthly_charges"} <= set(details["drifted"])
    # The breach retrained, forced (same data, stack and code), and judged v2 against v1.
    after = [e["event"] for e in events[events.index(breaches[0]) :]]
    assert "registered" in after
    assert any(e["event"] == "registered" and e["version"] == 2 for e in events)

    # A rerun finds nothing new and breaches no more.
    again = _monitor(monitored)
    assert "no new complete window" in json.dumps(again)
    events = audit_events(monitored_catalog(monitored), MODEL)
    assert [e["event"] for e in events].count("drift_breach") == 1


def monitored_catalog(project: Project):  # type: ignore[no-untyped-def]
    return api.load_stack(project.path).catalog
