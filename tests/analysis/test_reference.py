"""Ground-truth AEM references: vectors from hand-made records, Eq. (10) against a slow loop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fsar_bench.analysis.measures.reference import (
    aem_readings,
    per_video_distance,
    progress_vectors,
    reference_report,
    warp_vectors,
)
from fsar_bench.data.synthetic import design_classes, factor_config, sample_video

IDENTITY = {"knots": [0, 0.5, 1], "values": [0, 0.5, 1]}


def record(start: int, duration: int, frames: int = 8, warp: dict = IDENTITY) -> dict:
    """A ground-truth record with linear progress ``(i + 0.5) / duration`` over the action."""
    progress: list[float | None] = [None] * frames
    for i in range(duration):
        progress[start + i] = (i + 0.5) / duration
    return {"start_frame": start, "duration": duration, "progress": progress, "warp": warp}


def slow_aem(p: np.ndarray) -> float:
    """Eq. (10) as printed, by the obvious double loop over ordered pairs."""
    v = len(p)
    total = sum(
        1 - p[i] @ p[j] / (np.linalg.norm(p[i]) * np.linalg.norm(p[j]))
        for i in range(v)
        for j in range(v)
        if i != j
    )
    return total / (2 * v * (v - 1))


def test_progress_vectors_hand_worked() -> None:
    records = [record(0, 8), record(2, 4), record(6, 2)]
    indices = np.array([[1, 3, 5, 7]] * 3)  # sampled frames
    # video 0: progress (f + 0.5) / 8; video 1: frames 2..5 -> 3: 0.375, 5: 0.875;
    # video 2: frames 6..7 -> 7: 0.75
    want = np.array([[1.5 / 8, 3.5 / 8, 5.5 / 8, 7.5 / 8], [0, 0.375, 0.875, 0], [0, 0, 0, 0.75]])
    np.testing.assert_allclose(progress_vectors(records, indices), want)
    after = progress_vectors(records, indices, after="one")
    np.testing.assert_allclose(after[1], [0, 0.375, 0.875, 1.0])  # frame 7 is after the end
    np.testing.assert_allclose(after[2], want[2])  # nothing sampled after its end
    with pytest.raises(ValueError, match="after"):
        progress_vectors(records, indices, after="two")


def test_reference_aem_matches_the_slow_loop_and_drops_empty_rows() -> None:
    records = [record(0, 8), record(2, 4), record(6, 2), record(0, 1)]
    indices = np.array([[1, 3, 5, 7]] * 4)  # the last action (frame 0 only) is never sampled
    g = progress_vectors(records, indices)
    r = aem_readings(g)
    assert (r.videos, r.dropped) == (3, 1)
    assert r.aem_eq10_as_printed == pytest.approx(slow_aem(g[:3]), rel=1e-12)
    assert r.mean_pairwise_cosine_distance == pytest.approx(2 * slow_aem(g[:3]), rel=1e-12)
    assert math.isnan(aem_readings(g[2:]).aem_eq10_as_printed)  # one usable row: no pair


def test_aligned_videos_have_zero_reference_aem() -> None:
    records = [record(0, 8) for _ in range(5)]
    indices = np.tile([1, 3, 5, 7], (5, 1))
    assert aem_readings(progress_vectors(records, indices)).aem_eq10_as_printed == 0.0
    assert aem_readings(warp_vectors(records, 4)).aem_eq10_as_printed == 0.0


def test_warp_vectors_interpolate_the_knots() -> None:
    warp = {"knots": [0, 0.5, 1], "values": [0, 0.8, 1]}
    got = warp_vectors([record(3, 2, warp=warp)], 4)  # u = 1/8, 3/8, 5/8, 7/8
    np.testing.assert_allclose(got, [[0.2, 0.6, 0.85, 0.95]])


def test_per_video_distance_is_the_mean_over_the_others() -> None:
    rng = np.random.default_rng(0)
    p = rng.random((6, 5))
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    d = 1 - u @ u.T
    want = [np.delete(d[i], i).mean() for i in range(6)]
    np.testing.assert_allclose(per_video_distance(p), want, rtol=1e-12)


@pytest.mark.slow
def test_single_factor_references_on_generated_records() -> None:
    """Evolution-only: warp and progress references > 0; spatial-only: both exactly 0."""
    found = {}
    for factor in ("evolution", "spatial", "duration"):
        config = factor_config(factor, "high", frames=32)
        cls = design_classes(config)[0]
        records = [sample_video(config, cls, k, k) for k in range(12)]
        indices = np.tile([1, 5, 9, 13, 17, 21, 25, 30], (12, 1))
        probe_p = progress_vectors(records, indices) + 0.01  # a probe that reads the truth
        found[factor] = reference_report(records, indices, probe_p)
    assert found["spatial"].progress.aem_eq10_as_printed == pytest.approx(0, abs=1e-12)
    assert found["spatial"].warp.aem_eq10_as_printed == pytest.approx(0, abs=1e-12)
    assert found["duration"].warp.aem_eq10_as_printed == pytest.approx(0, abs=1e-12)
    assert found["duration"].progress.aem_eq10_as_printed > 0.01
    assert found["evolution"].warp.aem_eq10_as_printed > 0.001
    assert found["evolution"].progress.tracking_spearman > 0.9
    assert math.isnan(found["spatial"].progress.tracking_spearman)  # nothing to track
