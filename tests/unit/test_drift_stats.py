"""Our drift statistics against scipy's, on the same samples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from lakestacks.monitoring import stats as drift

RNG = np.random.default_rng(7)


@pytest.mark.parametrize(("n", "m", "shift"), [(200, 300, 0.0), (500, 80, 0.4), (3000, 2500, 0.05)])
def test_ks_matches_scipy(n: int, m: int, shift: float) -> None:
    a, b = RNG.normal(0, 1, n), RNG.normal(shift, 1, m)
    ours = drift.ks(a, b)
    theirs = stats.ks_2samp(a, b, method="asymp")
    assert ours.statistic == pytest.approx(theirs.statistic, abs=1e-12)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-15)
    assert ours.drifted == (theirs.pvalue < 0.05)


def test_ks_with_ties_matches_scipy() -> None:
    a, b = RNG.integers(0, 10, 400).astype(float), RNG.integers(1, 11, 500).astype(float)
    assert drift.ks(a, b).statistic == pytest.approx(stats.ks_2samp(a, b).statistic)


@pytest.mark.parametrize("shift", [0.0, 0.3, 2.0])
def test_normed_wasserstein_matches_scipy(shift: float) -> None:
    a, b = RNG.gamma(2.0, 2.0, 1500), RNG.gamma(2.0, 2.0, 900) + shift
    ours = drift.wasserstein(a, b)
    assert ours.statistic == pytest.approx(stats.wasserstein_distance(a, b) / np.std(a), rel=1e-9)
    assert ours.p_value is None and ours.drifted == (ours.statistic > 0.1)


def _counts(values: np.ndarray) -> dict[str, int]:
    keys, counts = np.unique(values, return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def test_chi2_matches_scipy() -> None:
    ref = _counts(RNG.choice(["a", "b", "c", "d"], 2000, p=[0.4, 0.3, 0.2, 0.1]))
    cur = _counts(RNG.choice(["a", "b", "c", "d"], 700, p=[0.3, 0.3, 0.2, 0.2]))
    keys = sorted(ref)
    observed = np.array([cur[k] for k in keys], dtype=float)
    expected = np.array([ref[k] for k in keys], dtype=float)
    expected = expected / expected.sum() * observed.sum()
    theirs = stats.chisquare(observed, expected)
    ours = drift.chi2(ref, cur)
    assert ours.statistic == pytest.approx(theirs.statistic, rel=1e-9)
    assert ours.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)
    assert ours.drifted


def test_jensen_shannon_matches_scipy() -> None:
    ref = {"a": 50, "b": 30, "c": 20}
    cur = {"a": 20, "b": 30, "c": 40, "d": 10}  # a category the reference never saw
    p = np.array([50, 30, 20, 0]) / 100
    q = np.array([20, 30, 40, 10]) / 100
    assert drift.js(ref, cur).statistic == pytest.approx(jensenshannon(p, q), rel=1e-9)
    assert drift.js(ref, ref).statistic == pytest.approx(0.0, abs=1e-9)


def test_z_test_matches_the_textbook_two_proportion_test() -> None:
    ref, cur = {"no": 700, "yes": 300}, {"no": 200, "yes": 200}
    ours = drift.z(ref, cur)
    p1, p2, pooled = 0.7, 0.5, 900 / 1400
    se = np.sqrt(pooled * (1 - pooled) * (1 / 1000 + 1 / 400))
    assert ours.statistic == pytest.approx((p1 - p2) / se)
    assert ours.p_value == pytest.approx(2 * stats.norm.sf(abs((p1 - p2) / se)))
    assert ours.drifted


def test_psi_is_zero_for_the_same_sample_and_grows_with_a_shift() -> None:
    a = RNG.normal(0, 1, 5000)
    assert drift.psi(a, a).statistic == pytest.approx(0.0, abs=1e-12)
    small, large = drift.psi(a, RNG.normal(0.1, 1, 5000)), drift.psi(a, RNG.normal(1, 1, 5000))
    assert small.statistic < 0.1 < 0.2 < large.statistic and large.drifted


def test_the_default_choice_follows_evidently() -> None:
    assert drift.choose_method("numeric", 500, 50) == "ks"
    assert drift.choose_method("numeric", 500, 3) == "chi2"  # few values: categorical
    assert drift.choose_method("categorical", 500, 2) == "z"
    assert drift.choose_method("categorical", 500, 7) == "chi2"
    assert drift.choose_method("numeric", 5000, 50) == "wasserstein"
    assert drift.choose_method("categorical", 5000, 7) == "js"
