"""Confidence onset: constructed curves with known change points, a slow oracle, the ceilings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fsar_bench.analysis.measures.onset import confidence, confidence_onset, oracle_steps
from fsar_bench.analysis.measures.start_times import NEVER


def slow_negentropy(logits: np.ndarray) -> np.ndarray:
    """``1 - H / log K`` per frame by explicit loops over videos, frames and classes."""
    v, t, k = logits.shape
    out = np.zeros((v, t))
    for i in range(v):
        for j in range(t):
            e = [math.exp(x) for x in logits[i, j]]
            probs = [x / sum(e) for x in e]
            h = -sum(q * math.log(q) for q in probs if q > 0)
            out[i, j] = 1 - h / math.log(k)
    return out


def step_logits(onsets: list[int], t: int = 8, k: int = 10, seed: int = 0) -> np.ndarray:
    """``[V, T, K]``: near-uniform logits before each video's onset, one class dominant after."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 0.1, size=(len(onsets), t, k))  # diffuse: confidence ~ 0
    for i, s in enumerate(onsets):
        if s != NEVER:
            z[i, s:, rng.integers(k)] += 8.0  # one class at probability ~ 0.997
    return z


def test_negentropy_matches_the_slow_loop_and_its_ends() -> None:
    z = np.random.default_rng(1).normal(0, 3, size=(4, 5, 7))
    np.testing.assert_allclose(confidence(z), slow_negentropy(z), atol=1e-12)
    assert confidence(np.zeros((1, 2, 6)))[0, 0] == pytest.approx(0, abs=1e-12)  # uniform
    certain = np.zeros((1, 1, 6))
    certain[0, 0, 2] = 60.0
    assert confidence(certain)[0, 0] == pytest.approx(1, abs=1e-12)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    np.testing.assert_allclose(confidence(z, "max"), p.max(-1), rtol=1e-12)


def test_onset_finds_known_change_points() -> None:
    onsets = [0, 1, 3, 7, NEVER, 5]
    z = step_logits(onsets)
    np.testing.assert_array_equal(confidence_onset(z), onsets)
    np.testing.assert_array_equal(confidence_onset(z, signal="max"), onsets)


def test_onset_is_the_first_crossing_not_the_last() -> None:
    z = step_logits([2])
    z[0, 4] = 0.0  # a diffuse frame after the onset does not move it
    assert confidence_onset(z)[0] == 2
    assert confidence_onset(z, threshold=1.1)[0] == NEVER  # unreachable


def test_onset_agrees_with_the_slow_first_crossing_on_random_curves() -> None:
    z = np.random.default_rng(2).normal(0, 2.5, size=(50, 8, 5))
    conf = slow_negentropy(z)
    want = [next((j for j in range(8) if c[j] >= 0.5), NEVER) for c in conf]
    np.testing.assert_array_equal(confidence_onset(z), want)


def test_oracle_steps_hand_worked() -> None:
    indices = np.array([[1, 5, 9, 13]] * 4)
    true = np.array([0, 1, 6, 14])  # first sampled frame at or after: step 0, 0, 2, none
    np.testing.assert_array_equal(oracle_steps(indices, true), [0, 0, 2, NEVER])
    np.testing.assert_array_equal(oracle_steps(indices, true, merge_first=True), [1, 1, 2, NEVER])


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="signal"):
        confidence(np.zeros((1, 2, 3)), "entropy")
    with pytest.raises(ValueError, match="K >= 2"):
        confidence(np.zeros((1, 2, 1)))
    with pytest.raises(ValueError, match="NaN"):
        confidence(np.full((1, 2, 3), np.nan))
