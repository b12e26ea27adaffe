import numpy as np
import pytest

from fsar_bench.results.stats import mean_ci, paired_difference


def test_interval_hand_worked():
    # values 0, 50, 100, 100: mean 62.5, sample std = sqrt(((62.5)^2 + 12.5^2 + 2*37.5^2) / 3)
    x = [0.0, 50.0, 100.0, 100.0]
    s = np.sqrt((62.5**2 + 12.5**2 + 2 * 37.5**2) / 3)
    iv = mean_ci(x)
    assert iv.mean == pytest.approx(62.5)
    assert iv.ci95 == pytest.approx(1.959964 * s / 2, rel=1e-6)
    assert str(iv) == f"62.50 +- {1.959964 * s / 2:.2f}"


def test_paired_interval_is_tighter_than_separate_ones():
    rng = np.random.default_rng(0)
    hard = rng.uniform(0, 100, 2000)  # episode difficulty shared by both methods
    a = np.clip(hard + 3 + rng.normal(0, 5, 2000), 0, 100)
    b = np.clip(hard + rng.normal(0, 5, 2000), 0, 100)
    pd = paired_difference(a, b)
    assert pd.diff.mean == pytest.approx((a - b).mean())
    assert pd.diff.ci95 < mean_ci(a).ci95 / 3
    assert pd.t_pvalue < 1e-6 and pd.wins > pd.losses


def test_identical_methods_and_shape_mismatch():
    pd = paired_difference(np.ones(5), np.ones(5))
    assert pd.diff.mean == 0 and pd.t_pvalue == 1.0
    with pytest.raises(ValueError, match="same episodes"):
        paired_difference(np.ones(5), np.ones(4))
