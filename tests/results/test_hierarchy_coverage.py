"""Coverage of :mod:`fsar_bench.results.hierarchy` on simulated benchmarks with a known truth.

A simulated benchmark has the real discrete form: ``R`` trainings x ``E = 1000`` episodes of a
5-way task with 1 query per class, so a per-episode accuracy is in {0, 20, ..., 100} %. Query ``q``
(class ``k``, video ``v``) is answered correctly by training ``s`` of a method when the latent

    class effect_k + video effect_v + method effect_{q} + training offset_s + noise_{s,q} > tau

(a probit threshold model: every term normal, so the true accuracy over the population of
trainings, classes and videos is ``Phi(-tau / sqrt(sum of the variances))`` in closed form). Class
and video effects are shared by all trainings and methods (episode difficulty), the method effect
by a method's trainings, the noise is each training's own (the training x episode interaction).

Regimes (checked below against their targets): ``ta2n``: training SD about 4.9 points against an
episode half-width of about 1.1-1.3 (TA2N 1-shot, README); ``protonet``: training SD about 0.1
(ProtoNet 1-shot); ``between``: training SD about 1.5. Each check runs 1,000 benchmarks with
``N_BOOT = 200`` resamples per level (the report's default is 2,000); ``pytest -k coverage -s``
prints the coverages.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from fsar_bench.results.hierarchy import cell_interval, paired_comparison

WAY, EPISODES, BENCHMARKS, N_BOOT = 5, 1000, 1000, 200
SD_CLASS, SD_VIDEO = 0.3, 0.9  # shared by every training and method
SUBSETS = np.array(list(itertools.combinations(range(10), WAY)))  # 5-way episodes of 10 classes


@dataclass(frozen=True, kw_only=True)
class Method:
    """One simulated method: its accuracy and the spread of its trainings (latent units)."""

    accuracy: float = 0.35
    sd_training: float
    sd_noise: float
    sd_method: float = 0.0
    sd_class: float = SD_CLASS

    @property
    def sd_total(self) -> float:
        sds = (self.sd_class, SD_VIDEO, self.sd_method, self.sd_training, self.sd_noise)
        return float(np.sqrt(np.sum(np.square(sds))))

    @functools.cached_property
    def tau(self) -> float:
        return float(stats.norm.isf(self.accuracy) * self.sd_total)

    def training_sd_points(self) -> float:
        """True SD over trainings of a training's accuracy (percent), by Gauss-Hermite."""
        x, w = np.polynomial.hermite_e.hermegauss(60)
        within = np.sqrt(self.sd_total**2 - self.sd_training**2)
        acc = 100 * stats.norm.sf((self.tau - self.sd_training * x) / within)
        w = w / w.sum()
        return float(np.sqrt(w @ (acc - w @ acc) ** 2))


REGIMES = {
    "ta2n": Method(sd_training=0.145, sd_noise=0.5),
    "protonet": Method(sd_training=0.003, sd_noise=0.1),
    "between": Method(sd_training=0.04, sd_noise=0.4),
}
TARGET_SD = {"ta2n": (4.0, 5.5), "protonet": (0.0, 0.2), "between": (1.2, 1.8)}


def simulate(seed: int, methods: tuple[Method, ...], trainings: int, n_classes: int | None = None):
    """``BENCHMARKS`` benchmarks: per method the correct answers ``uint8 [n, R, E]`` (0-5 of 5),
    and the episodes' classes ``[n, E, WAY]`` (``n_classes`` test classes; ``None``: every
    episode draws fresh classes from the population)."""
    rng = np.random.default_rng(seed)
    n, e = BENCHMARKS, EPISODES
    correct = [np.empty((n, trainings, e), dtype=np.uint8) for _ in methods]
    classes = None if n_classes is None else SUBSETS[rng.integers(0, len(SUBSETS), (n, e))]
    f32 = np.float32
    for i in range(0, n, 10):
        k = min(10, n - i)
        if classes is None:
            shared = rng.standard_normal((k, 1, e, WAY), f32) * f32(methods[0].sd_class)
        else:
            pool = rng.normal(0, methods[0].sd_class, (k, 1, 1, n_classes)).astype(f32)
            shared = np.take_along_axis(pool, classes[i : i + k, None], axis=-1)
        shared += rng.standard_normal((k, 1, e, WAY), f32) * f32(SD_VIDEO)
        for m, out in zip(methods, correct):
            lat = rng.standard_normal((k, trainings, e, WAY), f32)
            lat *= f32(m.sd_noise)
            lat += shared + rng.standard_normal((k, 1, e, WAY), f32) * f32(m.sd_method)
            lat += rng.normal(0, m.sd_training, (k, trainings, 1, 1)).astype(f32)
            out[i : i + k] = (lat > m.tau).sum(-1)
    return correct, classes


def acc(correct: np.ndarray) -> np.ndarray:
    return correct.astype(np.float64) * (100 / WAY)


def covered(est, truth: float) -> bool:
    return est.low <= truth <= est.high


@functools.cache
def simulated_cells(regime: str, trainings: int) -> np.ndarray:
    """Correct answers ``uint8 [BENCHMARKS, R, E]`` of one regime's method."""
    (correct,), _ = simulate(trainings * 101 + len(regime), (REGIMES[regime],), trainings)
    return correct


@functools.cache
def cell_coverage(regime: str, trainings: int, training_level: bool = True) -> tuple:
    """(two-level coverage, episode-only coverage, mean half-widths of both) in percent/points."""
    correct, truth = simulated_cells(regime, trainings), 100 * REGIMES[regime].accuracy
    hits, half = np.zeros(2), np.zeros(2)
    for i in range(BENCHMARKS):
        c = cell_interval(acc(correct[i]), n_boot=N_BOOT, seed=i, _training_level=training_level)
        hits += [covered(c.estimate, truth), covered(c.episode_only, truth)]
        half += [c.estimate.high - c.estimate.mean, c.episode_only.high - c.episode_only.mean]
    return (*(100 * hits / BENCHMARKS), *(half / BENCHMARKS))


def test_coverage_regimes_are_the_measured_ones():
    """The regimes' true training SDs are the README's measurements (TA2N 4.9, ProtoNet 0.1)."""
    for name, m in REGIMES.items():
        lo, hi = TARGET_SD[name]
        sd = m.training_sd_points()
        print(f"\n{name}: true training SD {sd:.2f} points")
        assert lo <= sd <= hi, (name, sd)
    *_, half_ep = cell_coverage("ta2n", 3)
    assert 1.0 <= half_ep <= 1.4  # the episode half-width of a 1,000-episode run


@pytest.mark.parametrize("trainings", [3, 5, 10])
@pytest.mark.parametrize("regime", list(REGIMES))
def test_coverage_of_the_two_level_interval(regime: str, trainings: int):
    cov, cov_ep, half, half_ep = cell_coverage(regime, trainings)
    msg = (
        f"{regime}, R={trainings}: two-level {cov:.1f}% (half-width {half:.2f}), "
        f"episode-only {cov_ep:.1f}% (half-width {half_ep:.2f})"
    )
    print("\n" + msg)
    assert 93.0 <= cov <= 97.0, msg
    if regime != "protonet":
        assert cov_ep < 90.0, msg  # today's interval misses the training spread


@pytest.mark.parametrize(("regime", "trainings"), [("ta2n", 3), ("between", 5)])
def test_coverage_falls_when_only_episodes_are_resampled(regime: str, trainings: int):
    """The coverage check above fails when the training level is switched off."""
    cov, *_ = cell_coverage(regime, trainings, training_level=False)
    print(f"\n{regime}, R={trainings}, episodes only: {cov:.1f}%")
    assert cov < 90.0


def _plain_percentile(y: np.ndarray, rng: np.random.Generator, n_boot: int) -> tuple:
    """The textbook two-level bootstrap: trainings, then the same episodes, cells as they are,
    percentile interval."""
    r, e = y.shape
    rows = rng.integers(0, r, (n_boot, r))
    cols = rng.integers(0, e, (n_boot, e))
    reps = np.stack([y[rows[b]][:, cols[b]].mean() for b in range(n_boot)])
    return tuple(np.quantile(reps, [0.025, 0.975]))


def test_coverage_of_the_plain_percentile_bootstrap_is_poor_at_three_trainings():
    """Why the training level needs its correction and the t critical value: the textbook
    two-level percentile interval at R = 3 (300 benchmarks, 200 resamples)."""
    m = REGIMES["ta2n"]
    (correct,), _ = simulate(7, (m,), 3)
    rng = np.random.default_rng(0)
    hits = [
        lo <= 100 * m.accuracy <= hi
        for lo, hi in (_plain_percentile(acc(correct[i]), rng, 200) for i in range(300))
    ]
    print(f"\nplain two-level percentile bootstrap, ta2n, R=3: {100 * np.mean(hits):.1f}%")
    assert np.mean(hits) < 0.85


PAIRS = {
    "ta2n-vs-protonet": (
        Method(accuracy=0.37, sd_training=0.145, sd_noise=0.5, sd_method=0.5),
        Method(accuracy=0.35, sd_training=0.003, sd_noise=0.1, sd_method=0.5),
    ),
    "protonet-vs-protonet": (
        Method(accuracy=0.36, sd_training=0.003, sd_noise=0.1, sd_method=0.5),
        Method(accuracy=0.35, sd_training=0.003, sd_noise=0.1, sd_method=0.5),
    ),
    "between": (
        Method(accuracy=0.37, sd_training=0.04, sd_noise=0.4, sd_method=0.5),
        Method(accuracy=0.35, sd_training=0.04, sd_noise=0.4, sd_method=0.5),
    ),
}


@functools.cache
def true_improvement(pair: str) -> float:
    """``P(A > B) + P(A = B) / 2`` over trainings and episodes, by Monte Carlo (2e6 pairs)."""
    (ca, cb), _ = simulate(99, PAIRS[pair], 2)  # 1000 x 2 x 1000 (training, episode) pairs
    return float(np.mean((ca > cb) + 0.5 * (ca == cb)))


@pytest.mark.parametrize("trainings", [3, 5])
@pytest.mark.parametrize("pair", list(PAIRS))
def test_coverage_of_the_paired_difference(pair: str, trainings: int):
    a, b = PAIRS[pair]
    (ca, cb), _ = simulate(trainings * 7 + len(pair), (a, b), trainings)
    truth = 100 * (a.accuracy - b.accuracy)
    p_truth = true_improvement(pair)
    hits = np.zeros(3)
    for i in range(BENCHMARKS):
        p = paired_comparison(acc(ca[i]), acc(cb[i]), n_boot=N_BOOT, seed=i)
        hits += [
            covered(p.difference, truth),
            covered(p.difference_episode_only, truth),
            covered(p.p_improvement, p_truth),
        ]
    cov, cov_ep, cov_p = 100 * hits / BENCHMARKS
    msg = (
        f"{pair}, R={trainings}: difference two-level {cov:.1f}%, episode-only {cov_ep:.1f}%;"
        f" P(A>B) (truth {p_truth:.3f}) {cov_p:.1f}%"
    )
    print("\n" + msg)
    assert 93.0 <= cov <= 97.0, msg
    assert 93.0 <= cov_p <= 97.0, msg
    if pair != "protonet-vs-protonet":
        assert cov_ep < 90.0, msg


def test_coverage_of_the_class_level_interval_with_ten_test_classes():
    """HMDB51-like: 10 test classes drawn from a population of classes (per-class accuracy SD
    about 14 points); 5-way episodes draw 5 of the 10. The truth is over the population."""
    m = Method(sd_training=0.04, sd_noise=0.4, sd_class=0.4)
    (correct,), classes = simulate(3, (m,), 3, n_classes=10)
    truth = 100 * m.accuracy
    hits = np.zeros(2)
    for i in range(BENCHMARKS):
        y = acc(correct[i])
        with_classes = cell_interval(y, classes=classes[i], n_boot=N_BOOT, seed=i)
        without = cell_interval(y, n_boot=N_BOOT, seed=i)
        hits += [covered(with_classes.estimate, truth), covered(without.estimate, truth)]
    cov, cov_without = 100 * hits / BENCHMARKS
    msg = f"10 test classes, R=3: class-level {cov:.1f}%, without classes {cov_without:.1f}%"
    print("\n" + msg)
    assert 93.0 <= cov <= 97.0, msg
    assert cov_without < 80.0, msg
