"""Drift tests between a reference (baseline) sample and a current window, vectorised.

Each test returns a :class:`Drift`: the statistic, its p-value (tests) or None (distances),
the threshold and whether the column drifted. The statistics follow ``scipy.stats``
(``ks_2samp`` with the asymptotic p-value, ``chisquare``, ``wasserstein_distance``,
``scipy.spatial.distance.jensenshannon``), which the unit tests check them against; only
scipy's distribution tails are borrowed.

The default choice follows Evidently's: with a reference of at most 1,000 rows, numeric
columns (more than 5 distinct values) get Kolmogorov-Smirnov, binary categorical ones a
Z-test of proportions and other categorical ones chi-squared, all at p < 0.05; with a larger
reference, numeric columns get the Wasserstein distance normed by the reference's standard
deviation and categorical ones the Jensen-Shannon distance, both drifting above 0.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "Drift",
    "Method",
    "chi2",
    "choose_method",
    "js",
    "ks",
    "psi",
    "wasserstein",
    "z",
]

Method = Literal["ks", "chi2", "z", "wasserstein", "js", "psi"]
METHODS: tuple[Method, ...] = ("ks", "chi2", "z", "wasserstein", "js", "psi")
# p-value below (tests) or distance above (the others) which a column drifts.
DEFAULT_THRESHOLDS: dict[Method, float] = {
    "ks": 0.05,
    "chi2": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "js": 0.1,
    "psi": 0.2,
}
TESTS = frozenset({"ks", "chi2", "z"})  # a p-value; the others are distances
SMALL_REFERENCE = 1_000
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Drift:
    """One column's drift verdict.

    Attributes:
        method: The test or distance used.
        statistic: The test statistic, or the distance.
        p_value: The test's p-value; None for a distance.
        threshold: The p-value below which, or the distance above which, it drifts.
        drifted: The verdict.
    """

    method: Method
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


def _verdict(method: Method, statistic: float, p_value: float | None, threshold: float) -> Drift:
    if method in TESTS:
        assert p_value is not None  # noqa: S101
        return Drift(method, statistic, p_value, threshold, p_value < threshold)
    return Drift(method, statistic, None, threshold, statistic > threshold)


def choose_method(
    kind: Literal["numeric", "categorical"], reference_rows: int, distinct: int
) -> Method:
    """Evidently's default test for a column (see the module's docstring)."""
    numeric = kind == "numeric" and distinct > 5
    if reference_rows <= SMALL_REFERENCE:
        if numeric:
            return "ks"
        return "z" if distinct <= 2 else "chi2"
    return "wasserstein" if numeric else "js"


def ks(
    reference: FloatArray,
    current: FloatArray,
    threshold: float = 0.05,
    reference_rows: int | None = None,
) -> Drift:
    """Two-sample Kolmogorov-Smirnov: the largest gap between the empirical CDFs, with the
    asymptotic p-value (``scipy.stats.ks_2samp(method="asymp")``); ``reference_rows`` is
    the reference's size when ``reference`` is a quantile sketch of it."""
    from scipy.stats import kstwo

    a, b = np.sort(reference), np.sort(current)
    both = np.concatenate([a, b])
    gap = np.abs(
        np.searchsorted(a, both, side="right") / a.size
        - np.searchsorted(b, both, side="right") / b.size
    )
    d = float(gap.max())
    size = reference_rows or a.size
    n = round(size * b.size / (size + b.size))
    p = float(np.clip(kstwo.sf(d, max(n, 1)), 0.0, 1.0))
    return _verdict("ks", d, p, threshold)


def wasserstein(reference: FloatArray, current: FloatArray, threshold: float = 0.1) -> Drift:
    """The Wasserstein-1 distance between the samples, divided by the reference's standard
    deviation (so 0.1 means a shift of a tenth of a standard deviation)."""
    a, b = np.sort(reference), np.sort(current)
    values = np.sort(np.concatenate([a, b]))
    widths = np.diff(values)
    cdf_a = np.searchsorted(a, values[:-1], side="right") / a.size
    cdf_b = np.searchsorted(b, values[:-1], side="right") / b.size
    distance = float(np.sum(np.abs(cdf_a - cdf_b) * widths))
    std = float(np.std(a))
    return _verdict("wasserstein", distance / std if std > 0 else distance, None, threshold)


def _aligned(
    reference: Mapping[str, int], current: Mapping[str, int]
) -> tuple[FloatArray, FloatArray]:
    keys = sorted(set(reference) | set(current))
    return (
        np.array([reference.get(k, 0) for k in keys], dtype=np.float64),
        np.array([current.get(k, 0) for k in keys], dtype=np.float64),
    )


def chi2(
    reference: Mapping[str, int], current: Mapping[str, int], threshold: float = 0.05
) -> Drift:
    """Pearson's chi-squared of the current counts against the reference's proportions
    (``scipy.stats.chisquare``); a category the reference never saw gets a tiny expected
    share, so it weighs heavily instead of dividing by zero."""
    from scipy.special import chdtrc

    ref, cur = _aligned(reference, current)
    shares = np.where(ref > 0, ref, 1e-4 * max(ref.sum(), 1.0)) / max(ref.sum(), 1.0)
    expected = shares / shares.sum() * cur.sum()
    statistic = float(np.sum((cur - expected) ** 2 / expected))
    dof = max(len(cur) - 1, 1)
    return _verdict("chi2", statistic, float(chdtrc(dof, statistic)), threshold)


def z(reference: Mapping[str, int], current: Mapping[str, int], threshold: float = 0.05) -> Drift:
    """Two-proportion Z-test on the share of the first category (sorted): for binary columns."""
    from scipy.special import ndtr

    ref, cur = _aligned(reference, current)
    n1, n2 = ref.sum(), cur.sum()
    if n1 == 0 or n2 == 0 or len(ref) < 2:
        return _verdict("z", 0.0, 1.0, threshold)
    p1, p2 = ref[0] / n1, cur[0] / n2
    pooled = (ref[0] + cur[0]) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    statistic = float((p1 - p2) / se) if se > 0 else 0.0
    return _verdict("z", statistic, float(2 * ndtr(-abs(statistic))), threshold)


def js(reference: Mapping[str, int], current: Mapping[str, int], threshold: float = 0.1) -> Drift:
    """The Jensen-Shannon distance (natural log) between the category shares
    (``scipy.spatial.distance.jensenshannon``)."""
    ref, cur = _aligned(reference, current)
    p, q = ref / max(ref.sum(), 1.0), cur / max(cur.sum(), 1.0)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0).sum()
    return _verdict("js", float(np.sqrt(max((kl_p + kl_q) / 2, 0.0))), None, threshold)


def psi(
    reference: FloatArray, current: FloatArray, threshold: float = 0.2, bins: int = 10
) -> Drift:
    """The population stability index over the reference's deciles (empty bins get a small
    share, as is usual, so the logarithm stays finite)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
    ref = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=edges.size + 1)
    cur = np.bincount(np.searchsorted(edges, current, side="right"), minlength=edges.size + 1)
    return psi_counts(ref, cur, threshold)


def psi_counts(
    reference: npt.NDArray[np.int64], current: npt.NDArray[np.int64], threshold: float = 0.2
) -> Drift:
    """The population stability index of two histograms over the same bins (or categories)."""
    p = np.maximum(reference / max(reference.sum(), 1), 1e-4)
    q = np.maximum(current / max(current.sum(), 1), 1e-4)
    return _verdict("psi", float(np.sum((q - p) * np.log(q / p))), None, threshold)
