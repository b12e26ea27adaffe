"""fsar_bench.results.hierarchy: point estimates by hand, the fast bootstrap against slow loops,
R = 1, paired improvement, class level, JSON and speed. Coverage: test_hierarchy_coverage.py."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy import stats

from fsar_bench.results import hierarchy as H
from fsar_bench.results.hierarchy import cell_interval, improvement, paired_comparison
from fsar_bench.results.stats import mean_ci

# 3 trainings x 4 episodes, 5-way 1-query accuracies
ACC = np.array([[0.0, 20.0, 40.0, 100.0], [20.0, 20.0, 60.0, 80.0], [40.0, 0.0, 40.0, 60.0]])


def test_point_estimates_by_hand():
    c = cell_interval(ACC)
    # training means 40, 45, 35 -> grand mean 40, SD 5; episode means 20, 40/3, 140/3, 80
    assert c.estimate.mean == pytest.approx(40.0)
    assert c.training_sd == pytest.approx(5.0)
    ep = np.array([20.0, 40 / 3, 140 / 3, 80.0])
    assert c.episode_only.mean == pytest.approx(40.0)
    half = 1.959964 * ep.std(ddof=1) / 2
    assert c.episode_only.high - c.episode_only.mean == pytest.approx(half, rel=1e-6)
    assert c.episode_only.high - 40 == pytest.approx(mean_ci(ep).ci95)  # today's convention
    assert c.design.trainings == 3 and c.design.episodes == 4 and c.design.training_spread_measured


def _mean_squares(y: np.ndarray) -> tuple[float, float, float]:
    """Two-way ANOVA without replication: MS of trainings (rows), episodes, interaction."""
    r, e = y.shape
    row, col = y.mean(1), y.mean(0)
    inter = y - row[:, None] - col[None, :] + y.mean()
    return e * row.var(ddof=1), r * col.var(ddof=1), (inter**2).sum() / ((r - 1) * (e - 1))


def test_variance_components_equal_the_mean_squares():
    """The bootstrap variances converge to the mean squares: training ``MS_rows / (R E)``,
    episode ``(MS_cols - MS_inter) / (R E)``; their sum is unbiased for the mean's variance."""
    rng = np.random.default_rng(1)
    y = 20.0 * rng.binomial(5, 0.4, (4, 300)) + rng.normal(0, 8, (4, 1))  # training offsets
    ms_rows, ms_cols, ms_inter = _mean_squares(y)
    c = cell_interval(y, n_boot=40_000, seed=3)
    assert c.estimate.var_training == pytest.approx(ms_rows / 1200, rel=0.03)
    assert c.estimate.var_episode == pytest.approx((ms_cols - ms_inter) / 1200, rel=0.03)
    assert c.estimate.var_episode < c.episode_only.var_episode  # the interaction left the level


def test_identical_trainings_add_nothing():
    y = np.tile(20.0 * np.random.default_rng(2).binomial(5, 0.4, 200), (3, 1))
    c = cell_interval(y, n_boot=40_000)
    assert c.estimate.var_training == 0.0 and c.training_sd == 0.0
    assert c.estimate.critical == pytest.approx(stats.t.ppf(0.975, 199))
    assert c.estimate.low == pytest.approx(c.episode_only.low, abs=0.03 * c.estimate.se)


def _slow_two_level(y: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """The procedure written out: an adjusted array (grand mean + training offset x sqrt(R/(R-1))
    + episode deviation shrunk to the episode effects' variance x sqrt(E/(E-1))), then for each
    resample R trainings and E episodes drawn with replacement, the same episodes for every
    training, and the mean of the drawn cells."""
    r, e = y.shape
    ms_rows, ms_cols, ms_inter = _mean_squares(y)
    shrink = np.sqrt(e / (e - 1) * max(0.0, 1 - ms_inter / ms_cols))
    adjusted = np.empty((r, e))
    for s in range(r):
        for j in range(e):
            offset = np.sqrt(r / (r - 1)) * (y[s].mean() - y.mean())
            adjusted[s, j] = y.mean() + offset + shrink * (y[:, j].mean() - y.mean())
    reps = np.empty(n_boot)
    for b in range(n_boot):
        rows, cols = rng.integers(0, r, r), rng.integers(0, e, e)
        total = 0.0
        for s in rows:
            for j in cols:
                total += adjusted[s, j]
        reps[b] = total / (r * e)
    return reps


def test_fast_bootstrap_matches_the_slow_double_loop():
    rng = np.random.default_rng(4)
    hard = rng.binomial(4, rng.uniform(0.1, 0.7, 40))  # episode difficulty, shared
    y = 20.0 * (hard + rng.binomial(1, 0.3, (3, 40))) + np.array([[0.0], [6.0], [-10.0]])
    slow = _slow_two_level(y, 4000, np.random.default_rng(5))
    fast = cell_interval(y, n_boot=4000, seed=6).estimate
    assert slow.mean() == pytest.approx(fast.mean, abs=4 * slow.std() / np.sqrt(4000))
    assert slow.var(ddof=1) == pytest.approx(fast.se**2, rel=0.1)  # 4000 draws: 2.2 % SD each
    # the distributions, not only their variances: the fast levels summed as _estimate draws them
    g = np.random.default_rng(7)
    offsets = (y.mean(1) - y.mean()) * np.sqrt(3 / 2)
    fast_reps = (
        y.mean()
        + H._resample_means(offsets, 20_000, g)
        + H._resample_means(H._episode_effects(y, crossed=True), 20_000, g)
    )
    q = np.array([0.05, 0.25, 0.5, 0.75, 0.95])  # the mixture over 3 trainings is multimodal:
    at = np.quantile(slow, q)  # compare the distribution functions, not the quantiles
    np.testing.assert_allclose((fast_reps[:, None] <= at).mean(0), q, atol=0.03)
    assert stats.ks_2samp(fast_reps, slow).pvalue > 0.001


def test_histogram_draws_equal_index_draws():
    """Both paths of _resample_means: means of n draws with replacement."""
    values = 20.0 * np.random.default_rng(8).binomial(5, 0.3, 500)
    rng = np.random.default_rng(9)
    hist = H._resample_means(values, 20_000, rng)
    index = values[rng.integers(0, 500, (20_000, 500))].mean(1)
    exact_var = values.var() / 500  # population variance / n
    for draws in (hist, index):
        assert draws.mean() == pytest.approx(values.mean(), abs=0.05)
        assert draws.var() == pytest.approx(exact_var, rel=0.04)
    assert stats.ks_2samp(hist, index).pvalue > 0.001
    smooth = np.random.default_rng(10).normal(50, 10, 2000)  # > _MAX_BINS distinct: index path
    assert H._resample_means(smooth, 5000, rng).var() == pytest.approx(
        smooth.var() / 2000, rel=0.06
    )


def test_one_training_is_episode_level_only_and_says_so():
    y = ACC[0]
    c = cell_interval(y)
    assert c.design.trainings == 1 and not c.design.training_spread_measured
    assert c.training_sd is None and c.estimate.var_training is None
    assert c.estimate.critical == pytest.approx(stats.t.ppf(0.975, 3))
    assert "training spread not measured" in str(c)
    assert "over 3 trainings" in str(cell_interval(ACC))


def test_training_spread_widens_the_interval_with_t_two():
    """Trainings far apart: the interval is about t_2 x SD / sqrt(3), not the episode interval."""
    rng = np.random.default_rng(11)
    y = 20.0 * rng.binomial(5, 0.35, (3, 1000)) + np.array([[-5.0], [0.0], [5.0]])
    c = cell_interval(y)
    sd = y.mean(1).std(ddof=1)
    assert c.estimate.critical > 4.0  # t_{0.975, 2} = 4.30
    assert c.estimate.high - c.estimate.mean > 0.9 * 4.30 * sd / np.sqrt(3)
    assert c.episode_only.high - c.episode_only.mean < 1.5


def test_improvement_counts_ties_as_half():
    a = np.array([[20.0, 40.0, 60.0], [0.0, 100.0, 40.0]])
    b = np.array([[20.0, 20.0, 80.0], [0.0, 80.0, 40.0 + 1e-12]])  # ties, a wins, b wins
    np.testing.assert_array_equal(improvement(a, b), [[0.5, 1.0, 0.0], [0.5, 1.0, 0.5]])
    p = paired_comparison(a, b)
    assert p.p_improvement.mean == pytest.approx(3.5 / 6)
    assert p.difference.mean == pytest.approx((a - b).mean())
    assert 0.0 <= p.p_improvement.low <= p.p_improvement.high <= 1.0
    with pytest.raises(ValueError, match="equal shapes"):
        paired_comparison(a, b[:, :2])


def test_identical_methods_give_no_difference():
    y = 20.0 * np.random.default_rng(12).binomial(5, 0.4, (3, 100))
    p = paired_comparison(y, y)
    assert p.difference.mean == 0.0 and p.difference.low == p.difference.high == 0.0
    assert p.p_improvement.mean == 0.5


def test_paired_difference_pairs_trainings_and_episodes():
    """A shared training offset (same seed) and shared episode difficulty cancel in A - B."""
    rng = np.random.default_rng(13)
    offset = np.array([[-6.0], [0.0], [6.0]])
    hard = 20.0 * rng.binomial(5, 0.4, (1, 500))
    a = hard + offset + 3.0 + rng.normal(0, 2, (3, 500))
    b = hard + offset + rng.normal(0, 2, (3, 500))
    p = paired_comparison(a, b)
    assert p.difference.low > 2.5 and p.difference.high < 3.5
    assert cell_interval(a).estimate.high - cell_interval(a).estimate.low > 10


def test_class_level_recovers_additive_class_effects():
    """Noise-free additive class effects: the class variance is sum(alpha^2) / (K (K - 1)) with
    every class in the same share of episodes."""
    values = np.array([10.0, 30.0, 50.0, 90.0])  # K = 4 classes, 2-way episodes: every pair x 5
    pairs = np.array([(i, j) for i in range(4) for j in range(i + 1, 4)] * 5)
    y = values[pairs].mean(1)[None, :]
    c = cell_interval(y, classes=pairs + 100, n_boot=40_000)  # any class ids
    alpha = values - values.mean()
    assert c.design.classes == 4
    assert c.estimate.var_class == pytest.approx(alpha @ alpha / (4 * 3), rel=0.03)
    crit = stats.t.ppf(0.975, 3)  # the class level dominates: t with K - 1 degrees of freedom
    assert c.estimate.critical == pytest.approx(crit, rel=0.05)


def test_class_level_needs_more_classes_than_the_way():
    y = np.ones((2, 10))
    with pytest.raises(ValueError, match="> way ids"):
        cell_interval(y, classes=np.tile(np.arange(5), (10, 1)))
    with pytest.raises(ValueError, match="10 episodes"):
        cell_interval(y, classes=np.tile(np.arange(5), (9, 1)) % 3)


def test_results_are_seeded_and_plain_json():
    rng = np.random.default_rng(14)
    a, b = 20.0 * rng.binomial(5, 0.4, (3, 200)), 20.0 * rng.binomial(5, 0.35, (3, 200))
    cls = np.stack([rng.choice(12, 5, replace=False) for _ in range(200)])
    p = paired_comparison(a, b, classes=cls, n_boot=300, seed=5)
    assert p == paired_comparison(a, b, classes=cls, n_boot=300, seed=5)
    other = paired_comparison(a, b, classes=cls, n_boot=300, seed=6)
    assert other.difference.se != p.difference.se and other.difference.mean == p.difference.mean
    out = json.loads(json.dumps(p.to_json()))
    assert out == p.to_json() and out["design"]["n_boot"] == 300 and out["design"]["seed"] == 5

    def leaves(x):
        return [v for w in x.values() for v in leaves(w)] if isinstance(x, dict) else [x]

    assert {type(v) for v in leaves(out)} <= {float, int, bool, str, type(None)}
    assert cell_interval(ACC[0]).to_json()["training_sd"] is None


def test_a_report_sized_cell_takes_well_under_a_second():
    """E = 10,000 episodes, R = 5, default resamples, with a paired comparison and classes."""
    rng = np.random.default_rng(15)
    a, b = 20.0 * rng.binomial(5, 0.4, (5, 10_000)), 20.0 * rng.binomial(5, 0.35, (5, 10_000))
    cls = np.stack([rng.choice(24, 5, replace=False) for _ in range(10_000)])
    start = time.perf_counter()
    cell_interval(a, classes=cls)
    paired_comparison(a, b)
    assert time.perf_counter() - start < 1.0
