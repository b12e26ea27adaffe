"""AEM (TA2N Eq. 10) against a slow double loop and hand-worked cases; t-SNE of evolution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fsar_bench.analysis.measures.aem import (
    aem,
    aem_per_class,
    evolution_vectors,
    mean_pairwise_cosine_distance,
)
from fsar_bench.analysis.measures.tsne import effective_perplexity, plot_tsne, tsne_embed


def aem_double_loop(p: np.ndarray) -> float:
    """Eq. (10) written out: sum over ordered pairs i != j, divided by M = 2 v (v - 1)."""
    v = len(p)
    total = 0.0
    for i in range(v):
        for j in range(v):
            if i != j:
                cos = p[i] @ p[j] / (np.linalg.norm(p[i]) * np.linalg.norm(p[j]))
                total += 1.0 - cos
    return total / (2 * v * (v - 1))


@pytest.mark.parametrize("low", [0.0, -1.0])  # probabilities, and vectors with negative entries
def test_closed_form_matches_double_loop(low: float) -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(low, 1.0, size=(23, 8))
    assert aem(p) == pytest.approx(aem_double_loop(p), rel=1e-12, abs=1e-14)
    assert mean_pairwise_cosine_distance(p) == pytest.approx(2 * aem_double_loop(p), rel=1e-12)


def test_identical_vectors_give_zero() -> None:
    p = np.tile([0.1, 0.3, 0.7, 0.9], (6, 1))
    assert aem(p) == pytest.approx(0.0, abs=1e-12)


def test_hand_worked_two_vectors() -> None:
    # cos([1, 0], [1, 1]) = 1 / sqrt(2); two ordered pairs; M = 2 * 2 * 1 = 4.
    p = np.array([[1.0, 0.0], [1.0, 1.0]])
    expected = 2 * (1 - 1 / math.sqrt(2)) / 4
    assert aem(p) == pytest.approx(expected, rel=1e-12)
    assert mean_pairwise_cosine_distance(p) == pytest.approx(1 - 1 / math.sqrt(2), rel=1e-12)


def test_orthogonal_probability_vectors_reach_the_half_bound() -> None:
    # Non-negative vectors have cos >= 0, so Eq. (10) as printed cannot exceed 0.5.
    p = np.eye(4)
    assert aem(p) == pytest.approx(0.5, rel=1e-12)
    rng = np.random.default_rng(1)
    assert aem(rng.uniform(size=(50, 8))) < 0.5


def test_invariant_to_scaling_each_vector() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(size=(15, 8))
    scales = rng.uniform(0.01, 100.0, size=(15, 1))
    assert aem(p * scales) == pytest.approx(aem(p), rel=1e-12)


def test_zero_vector_nan_and_too_few_videos_are_errors() -> None:
    p = np.array([[0.2, 0.8], [0.0, 0.0], [0.5, 0.5], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"2 of 4 .*all zero .*\[1, 3\]"):
        aem(p)
    with pytest.raises(ValueError, match="NaN"):
        aem(np.array([[0.2, np.nan], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="at least 2"):
        aem(np.array([[0.2, 0.8]]))


def test_evolution_vectors_pick_the_true_class_row() -> None:
    rng = np.random.default_rng(3)
    probs = rng.uniform(size=(5, 4, 8))
    labels = np.array([0, 3, 1, 3, 2])
    got = evolution_vectors(probs, labels)
    assert got.shape == (5, 8)
    for v in range(5):
        np.testing.assert_array_equal(got[v], probs[v, labels[v]])
    with pytest.raises(ValueError, match="0..3"):
        evolution_vectors(probs, np.array([0, 4, 1, 3, 2]))


def test_per_class_matches_aem_on_each_subset() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=(9, 8))
    labels = np.array([2, 0, 2, 0, 0, 5, 2, 0, 2])
    got = aem_per_class(p, labels)
    assert list(got) == [0, 2, 5]
    assert got[0] == pytest.approx(aem_double_loop(p[labels == 0]), rel=1e-12)
    assert got[2] == pytest.approx(aem_double_loop(p[labels == 2]), rel=1e-12)
    assert math.isnan(got[5])  # a single video has no pair; kept as nan


def test_tsne_is_seeded_and_perplexity_is_clamped(tmp_path) -> None:
    assert effective_perplexity(1000) == 30.0
    assert effective_perplexity(10, 30.0) == pytest.approx(3.0)
    assert effective_perplexity(10, 2.0) == 2.0
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.normal(0, 0.1, (8, 8)), rng.normal(3, 0.1, (8, 8))])
    a, b = tsne_embed(x, seed=0), tsne_embed(x, seed=0)
    assert a.shape == (16, 2)
    np.testing.assert_array_equal(a, b)
    # The two well-separated clusters stay separated: every point is nearer its own centre.
    centres = np.stack([a[:8].mean(0), a[8:].mean(0)])
    nearest = np.linalg.norm(a[:, None] - centres[None], axis=-1).argmin(1)
    np.testing.assert_array_equal(nearest, [0] * 8 + [1] * 8)
    files = plot_tsne(a, [0] * 8 + [1] * 8, tmp_path / "fig" / "tsne.png", "toy", pdf=True)
    assert [f.suffix for f in files] == [".png", ".pdf"]
    assert all(f.stat().st_size > 1000 for f in files)
    many = plot_tsne(a, range(16), tmp_path / "many.png", "toy", style=["q", "p"] * 8)
    assert many[0].stat().st_size > 1000
