"""Windows, slices and the breach rule on synthetic traffic whose truth is known."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from lakestacks.monitoring.reference import summarise
from lakestacks.monitoring.windows import breaches, compute

HOUR = 3600
START = datetime(2026, 3, 1, tzinfo=UTC)


def _draw(rng: np.random.Generator, n: int, shift: float = 0.0) -> dict[str, object]:
    return {
        "tenure": rng.gamma(2.0, 12.0, n) * (1 + shift),
        "charges": rng.normal(70 + 30 * shift, 20, n),
        "contract": rng.choice(["month", "year", "two-year"], n, p=[0.5, 0.3, 0.2]),
        "support": rng.poisson(1.5 + 3 * shift, n),
    }


COLUMNS = ["tenure", "charges", "contract", "support"]


def _baseline(rng: np.random.Generator, n: int = 20_000) -> dict[str, object]:
    table = pa.table(_draw(rng, n))
    return {c: summarise(c, table[c]) for c in COLUMNS}


def _traffic(rng: np.random.Generator, windows: int, rows: int, shift_from: int | None) -> pa.Table:
    parts = []
    for w in range(windows):
        shift = 0.5 if shift_from is not None and w >= shift_from else 0.0
        data = _draw(rng, rows, shift)
        offsets = rng.uniform(0, HOUR, rows)
        data["timestamp"] = pa.array(
            [START + timedelta(hours=w, seconds=float(s)) for s in offsets],
            pa.timestamp("us", tz="UTC"),
        )
        parts.append(pa.table(data))
    return pa.concat_tables(parts)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_thirty_windows_without_drift_give_no_breach(seed: int) -> None:
    rng = np.random.default_rng(seed)
    found = compute(
        _traffic(rng, 30, 2_000, None), timestamp="timestamp", seconds=HOUR,
        columns=COLUMNS, baseline=_baseline(rng),
    )  # fmt: skip
    assert len(found.verdicts) == 30
    assert breaches(found.verdicts, 3, 5, HOUR) == []
    against = found.drift["against"].to_pylist()
    assert against.count("baseline") == 30 * len(COLUMNS)
    assert against.count("previous") == 29 * len(COLUMNS)  # each window against the one before
    assert set(found.drift["method"].to_pylist()) == {"wasserstein", "js"}  # a large baseline


def test_a_shift_at_window_20_breaches_at_the_rules_third_window() -> None:
    rng = np.random.default_rng(4)
    found = compute(
        _traffic(rng, 30, 2_000, shift_from=20), timestamp="timestamp", seconds=HOUR,
        columns=COLUMNS, baseline=_baseline(rng),
    )  # fmt: skip
    violating = [i for i, v in enumerate(found.verdicts) if v.violates]
    assert violating == list(range(20, 30))
    first = breaches(found.verdicts, 3, 5, HOUR)[0]
    assert first.start == START + timedelta(hours=22)  # windows 20 to 20 + k - 1
    assert set(first.drifted) >= {"tenure", "charges"}


def test_a_gap_without_traffic_is_no_data_not_a_breach() -> None:
    rng = np.random.default_rng(5)
    traffic = _traffic(rng, 6, 1_000, shift_from=0)
    hours = [t.hour for t in traffic["timestamp"].to_pylist()]
    keep = pa.array([h in (0, 4) for h in hours])  # two drifting windows, three empty between
    found = compute(
        traffic.filter(keep), timestamp="timestamp", seconds=HOUR, columns=COLUMNS,
        baseline=_baseline(rng),
    )  # fmt: skip
    assert [v.violates for v in found.verdicts] == [True, True]
    assert breaches(found.verdicts, 2, 3, HOUR) == []  # 4 h apart: not 2 of the last 3 windows
    assert len(breaches(found.verdicts, 2, 5, HOUR)) == 1


def test_several_model_versions_are_profiled_apart() -> None:
    rng = np.random.default_rng(6)
    traffic = _traffic(rng, 2, 1_000, None)
    versions = pa.array(np.where(rng.random(traffic.num_rows) < 0.5, 1, 2), pa.int64())
    found = compute(
        traffic.append_column("model_version", versions), timestamp="timestamp", seconds=HOUR,
        columns=COLUMNS, baseline=_baseline(rng),
    )  # fmt: skip
    assert set(found.profile["slice"].to_pylist()) == {"model_version=1", "model_version=2"}
    counts = found.profile.filter(pa.compute.equal(found.profile["column"], "tenure"))["count"]
    assert sum(counts.to_pylist()) == traffic.num_rows


def test_a_small_baseline_gets_the_tests_and_p_values() -> None:
    rng = np.random.default_rng(8)
    found = compute(
        _traffic(rng, 1, 500, None), timestamp="timestamp", seconds=HOUR, columns=COLUMNS,
        baseline=_baseline(rng, n=800),
    )  # fmt: skip
    drift = found.drift.filter(pa.compute.equal(found.drift["against"], "baseline"))
    methods = dict(zip(drift["column"].to_pylist(), drift["method"].to_pylist(), strict=True))
    assert methods == {"tenure": "ks", "charges": "ks", "contract": "chi2", "support": "ks"}
    assert all(p is not None for p in found.drift["p_value"].to_pylist())


def test_value_slices_are_profiled_and_tested_but_do_not_decide() -> None:
    rng = np.random.default_rng(10)
    traffic = _traffic(rng, 3, 1_500, shift_from=2)
    baseline = _baseline(rng)
    whole = compute(
        traffic, timestamp="timestamp", seconds=HOUR, columns=COLUMNS, baseline=baseline
    )
    sliced = compute(
        traffic, timestamp="timestamp", seconds=HOUR, columns=COLUMNS, baseline=baseline,
        slice_by=["contract"],
    )  # fmt: skip
    assert sliced.verdicts == whole.verdicts
    names = set(sliced.drift["slice"].to_pylist())
    assert names == {"*", "contract=month", "contract=year", "contract=two-year"}
    rows = sliced.profile.filter(pa.compute.equal(sliced.profile["column"], "tenure"))
    by_slice: dict[str, int] = {}
    for r in rows.to_pylist():
        by_slice[r["slice"]] = by_slice.get(r["slice"], 0) + r["count"]
    assert by_slice["*"] == traffic.num_rows == sum(v for k, v in by_slice.items() if k != "*")


def test_each_window_is_also_tested_against_the_one_before() -> None:
    """A shift at window 3 drifts against the previous window at 3 only; against the
    baseline from 3 on. The summaries a run ends with start the next run's comparisons."""
    rng = np.random.default_rng(11)
    traffic = _traffic(rng, 5, 2_000, shift_from=3)
    baseline = _baseline(rng)
    first = compute(
        traffic.slice(0, 6_000), timestamp="timestamp", seconds=HOUR, columns=COLUMNS,
        baseline=baseline,
    )  # fmt: skip
    second = compute(
        traffic.slice(6_000), timestamp="timestamp", seconds=HOUR, columns=COLUMNS,
        baseline=baseline, previous=first.last,
    )  # fmt: skip
    rows = [*first.drift.to_pylist(), *second.drift.to_pylist()]
    tenure = [r for r in rows if r["column"] == "tenure" and r["against"] == "previous"]
    hours = {(r["window_start"] - START) // timedelta(hours=1): r["drifted"] for r in tenure}
    assert hours == {1: False, 2: False, 3: True, 4: False}


def test_the_history_judges_windows_as_compute_does(tmp_path: Path) -> None:
    """The breach rule reads earlier windows back from the drift table: a slice by value
    that drifted must not make them violate there either (it did, before both paths shared
    one judge)."""
    from lakestacks.data.tables import write_table
    from lakestacks.flows.monitoring import _recent_verdicts

    rng = np.random.default_rng(12)
    traffic = _traffic(rng, 3, 4_000, None)
    # A fifth of the rows (two-year contracts) shift by ~0.15 std: that slice drifts, the
    # whole window (~0.03 std) does not.
    tenure = traffic["tenure"]
    two_year = pa.compute.equal(traffic["contract"], "two-year")
    moved = pa.compute.if_else(two_year, pa.compute.add(tenure, 2.5), tenure)
    traffic = traffic.set_column(traffic.schema.get_field_index("tenure"), "tenure", moved)
    found = compute(
        traffic, timestamp="timestamp", seconds=HOUR, columns=["tenure"],
        baseline=_baseline(rng), slice_by=["contract"],
    )  # fmt: skip
    baseline = [r for r in found.drift.to_pylist() if r["against"] == "baseline"]
    assert all(r["drifted"] for r in baseline if r["slice"] == "contract=two-year")
    assert not any(r["drifted"] for r in baseline if r["slice"] == "*")
    assert not any(v.violates for v in found.verdicts)
    path = str(tmp_path / "drift")
    write_table(path, found.drift)
    history = _recent_verdicts(path, START, 1, 0.5)
    assert history == [
        replace(v, rows=h.rows) for v, h in zip(found.verdicts, history, strict=True)
    ]
