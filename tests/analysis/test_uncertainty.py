"""Probe-uncertainty measures: video confidence, confident-subset AEM, bootstrap interval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fsar_bench.analysis.measures.aem import aem
from fsar_bench.analysis.measures.uncertainty import (
    aem_within_class,
    bootstrap_interval,
    confident_aem,
    confident_mask,
    video_confidence,
    within_class_interval,
)


def test_video_confidence_is_the_softmax_of_the_mean_logits() -> None:
    z = np.random.default_rng(0).normal(0, 2, size=(6, 4, 3))
    labels = np.array([0, 1, 2, 0, 1, 2])
    correct, prob = video_confidence(z, labels)
    for i in range(6):
        m = z[i].mean(0)
        q = np.exp(m) / np.exp(m).sum()
        assert prob[i] == pytest.approx(q[labels[i]], rel=1e-12)
        assert correct[i] == (q.argmax() == labels[i])


def test_confident_aem_is_the_aem_of_the_kept_videos() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((8, 5))
    z = np.zeros((8, 5, 3))
    labels = np.zeros(8, dtype=np.int64)
    z[:3, :, 0] = 5.0  # confident and right
    z[3, :, 0] = 0.3  # right, p ~ 0.4 < 0.5
    z[4:6, :, 1] = 5.0  # confident and wrong
    z[6:, :, 0] = 1.0  # right, p ~ 0.58
    np.testing.assert_array_equal(confident_mask(z, labels), [1, 1, 1, 0, 0, 0, 1, 1])
    out = confident_aem(p, z, labels)
    keep = [0, 1, 2, 6, 7]
    assert (out.videos, out.share) == (5, pytest.approx(5 / 8))
    assert out.aem_eq10_as_printed == pytest.approx(aem(p[keep]), rel=1e-12)
    assert out.others.videos == 3
    assert out.others.aem_eq10_as_printed == pytest.approx(aem(p[[3, 4, 5]]), rel=1e-12)
    assert math.isnan(confident_aem(p[:1], z[:1], labels[:1]).aem_eq10_as_printed)


def test_bootstrap_interval_brackets_the_estimate_and_is_seeded() -> None:
    rng = np.random.default_rng(2)
    p = rng.random((300, 8))
    low, high = bootstrap_interval(p, n=400, seed=3)
    assert low < aem(p) < high and high - low < 0.5 * aem(p)
    assert bootstrap_interval(p, n=400, seed=3) == (low, high)
    same = np.tile(rng.random(8), (50, 1))  # aligned videos: no spread to resample
    assert bootstrap_interval(same, n=50) == pytest.approx((0.0, 0.0), abs=1e-12)


def test_bootstrap_matches_a_slow_resample() -> None:
    rng = np.random.default_rng(4)
    p = rng.random((20, 4))
    draws = np.random.default_rng(5).integers(0, 20, size=(30, 20))
    slow = []
    for d in draws:  # Eq. (10) over the resample, a copy of a video included as its own row
        u = p[d] / np.linalg.norm(p[d], axis=1, keepdims=True)
        cos = u @ u.T
        slow.append(((1 - cos)[~np.eye(20, dtype=bool)]).sum() / (2 * 20 * 19))
    low, high = bootstrap_interval(p, n=30, seed=5)
    assert (low, high) == pytest.approx(tuple(np.quantile(slow, [0.025, 0.975])), rel=1e-10)


def test_within_class_aem_pools_same_class_pairs_only() -> None:
    rng = np.random.default_rng(6)
    p = rng.random((9, 4))
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    dist = pairs = 0.0
    for i in range(9):  # slow: every ordered same-class pair
        for j in range(9):
            if i != j and labels[i] == labels[j]:
                dist += 1 - u[i] @ u[j]
                pairs += 1
    assert aem_within_class(p, labels) == pytest.approx(dist / (2 * pairs), rel=1e-12)
    assert math.isnan(aem_within_class(p[:3], np.array([0, 1, 2])))  # no class has a pair


def test_within_class_ignores_differences_between_classes() -> None:
    """Each class has its own curve shape, videos of a class share it: within-class AEM 0."""
    shapes = np.random.default_rng(7).random((4, 6))
    labels = np.repeat(np.arange(4), 5)
    p = shapes[labels] * np.linspace(1, 3, 20)[:, None]  # scaled copies: same direction
    assert aem(p) > 0.01
    assert aem_within_class(p, labels) == pytest.approx(0, abs=1e-12)
    assert within_class_interval(p, labels, n=50) == pytest.approx((0, 0), abs=1e-12)
    noisy = p + np.random.default_rng(8).random(p.shape)
    low, high = within_class_interval(noisy, labels, n=200)
    assert low <= aem_within_class(noisy, labels) <= high
