import numpy as np
import pytest

from fsar_bench.data.sampling import test_indices as sample_test
from fsar_bench.data.sampling import train_indices as sample_train


def test_trx_test_rule_matches_hand_worked_examples():
    # TRX/TA2N loader: linspace(1, n-2, T) truncated; all frames when n == T.
    assert sample_test(8, 8) == list(range(8))
    assert sample_test(50, 8) == [1, 7, 14, 21, 27, 34, 41, 48]
    # span 1..7 is shorter than T=8 -> fall back to linspace(0, n-1)
    assert sample_test(9, 8) == [0, 1, 2, 3, 4, 5, 6, 8]


def test_centre_rule():
    assert sample_test(16, 8, "centre") == [1, 3, 5, 7, 9, 11, 13, 15]
    assert sample_test(8, 8, "centre") == list(range(8))


@pytest.mark.parametrize("n", [1, 3, 7, 8, 9, 31, 200])
@pytest.mark.parametrize("mode", ["trx", "centre"])
def test_test_indices_valid_and_sorted(n, mode):
    idx = sample_test(n, 8, mode)
    assert len(idx) == 8 and idx == sorted(idx)
    assert 0 <= idx[0] and idx[-1] < n


@pytest.mark.parametrize("mode", ["trx", "tsn"])
def test_train_sampling_is_seeded_valid_and_random(mode):
    a = [sample_train(40, 8, np.random.default_rng(3), mode) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    draws = {tuple(sample_train(40, 8, rng, mode)) for _ in range(50)}
    assert len(draws) > 1
    for d in draws:
        assert list(d) == sorted(d) and 0 <= d[0] and d[-1] < 40


def test_tsn_one_frame_per_segment():
    rng = np.random.default_rng(1)
    for _ in range(20):
        idx = sample_train(40, 8, rng, "tsn")
        assert [i // 5 for i in idx] == list(range(8))


def test_trx_train_ends_near_clip_ends():
    rng = np.random.default_rng(2)
    for _ in range(20):
        idx = sample_train(40, 8, rng, "trx")
        assert idx[0] <= 5 and idx[-1] >= 40 - 1 - 5


def test_bad_arguments():
    with pytest.raises(ValueError):
        sample_test(0, 8)
    with pytest.raises(ValueError, match="unknown test sampling"):
        sample_test(10, 8, "nope")
