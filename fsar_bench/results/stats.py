"""Confidence intervals and paired comparisons of per-episode accuracies.

Convention (stated in every summary): the 95% interval is ``mean +- z * s / sqrt(n)`` with
``z = scipy.stats.norm.ppf(0.975)`` (1.95996...) and ``s`` the *sample* standard deviation
(``ddof=1``) of the per-episode accuracies. Peer code uses the population standard deviation
(``ddof=0``); the difference is negligible for thousands of episodes but is stated anyway.

Because every method runs on the same episodes, a comparison of two methods is *paired*: the
interval of the mean per-episode difference is much tighter than the two separate intervals
suggest. :func:`paired_difference` also gives the paired t-test and the Wilcoxon signed-rank
p-values from scipy.stats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from fsar_bench.results.record import JsonRecord, inline

CONVENTION = "mean +- 1.96 * s / sqrt(n), s = sample std (ddof=1) of per-episode accuracy"


@dataclass(frozen=True, kw_only=True)
class Interval(JsonRecord):
    """A mean with its 95% half-width, in the units of the input (e.g. percent)."""

    mean: float
    ci95: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.2f} +- {self.ci95:.2f}"


def mean_ci(values: np.ndarray | list[float], level: float = 0.95) -> Interval:
    """Mean and normal-approximation interval half-width with the sample std (``ddof=1``)."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no values")
    if x.size == 1:
        return Interval(mean=float(x[0]), ci95=float("nan"), n=1)
    z = stats.norm.ppf(0.5 + level / 2)
    half = float(z * x.std(ddof=1) / np.sqrt(x.size))
    return Interval(mean=float(x.mean()), ci95=half, n=int(x.size))


@dataclass(frozen=True, kw_only=True)
class PairedDifference(JsonRecord):
    """Mean of ``a - b`` over the same episodes, its interval and two paired tests (in JSON, the
    interval's ``mean``, ``ci95`` and ``n`` first, then the tests)."""

    diff: Interval = inline()
    t_pvalue: float
    wilcoxon_pvalue: float
    wins: int
    losses: int


def paired_difference(a: np.ndarray, b: np.ndarray) -> PairedDifference:
    """Compare two methods' per-episode accuracies on identical episodes (same order)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired comparison needs the same episodes: {a.shape} vs {b.shape}")
    d = a - b
    if np.all(d == 0):
        t_p = w_p = 1.0
    else:
        t_p = float(stats.ttest_rel(a, b).pvalue)
        w_p = float(stats.wilcoxon(d, zero_method="wilcox").pvalue)
    return PairedDifference(
        diff=mean_ci(d),
        t_pvalue=t_p,
        wilcoxon_pvalue=w_p,
        wins=int((d > 0).sum()),
        losses=int((d < 0).sum()),
    )
