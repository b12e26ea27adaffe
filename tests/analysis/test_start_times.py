"""Start times (TA2N supplementary): first frame with p_t >= 0.5, and their distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fsar_bench.analysis.measures.start_times import NEVER, start_time_summary, start_times


def start_times_loop(p: np.ndarray, threshold: float) -> list[int]:
    """The paper's wording: t with p_t >= threshold and every earlier frame below it."""
    out = []
    for row in p:
        found = NEVER
        for t in range(len(row)):
            if row[t] >= threshold and all(row[s] < threshold for s in range(t)):
                found = t
                break
        out.append(found)
    return out


def test_edge_cases() -> None:
    p = np.array(
        [
            [0.9, 0.1, 0.1, 0.1],  # starts at frame 0
            [0.1, 0.2, 0.3, 0.4],  # never reaches
            [0.1, 0.5, 0.2, 0.2],  # exactly 0.5 counts
            [0.1, 0.2, 0.8, 0.1],  # reaches, then drops: still frame 2
            [0.1, 0.2, 0.3, 0.6],  # last frame
            [0.4999999, 0.1, 0.1, 0.1],  # just below: never
        ]
    )
    np.testing.assert_array_equal(start_times(p), [0, NEVER, 1, 2, 3, NEVER])
    assert start_times(p).dtype == np.int64


def test_matches_the_papers_wording_on_random_data() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 0.7, size=(200, 8))
    for threshold in (0.5, 0.3):
        np.testing.assert_array_equal(start_times(p, threshold), start_times_loop(p, threshold))


def test_nan_and_bad_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="NaN"):
        start_times(np.array([[0.1, np.nan, 0.9]]))
    with pytest.raises(ValueError, match=r"\[V, T\]"):
        start_times(np.array([0.1, 0.9]))


def test_summary_hand_worked() -> None:
    p = np.array(
        [
            [0.6, 0.1, 0.1],  # 0
            [0.1, 0.7, 0.1],  # 1
            [0.2, 0.9, 0.9],  # 1
            [0.1, 0.1, 0.1],  # never
            [0.1, 0.2, 0.5],  # 2
        ]
    )
    s = start_time_summary(p)
    assert (s.n_videos, s.counts, s.never) == (5, (1, 2, 1), 1)
    assert s.mean == pytest.approx(1.0)  # (0 + 1 + 1 + 2) / 4; the never-starting one excluded
    assert s.median == pytest.approx(1.0)
    h = s.histogram()
    assert h.labels == ("1", "2", "3", "never")
    assert h.counts == (1, 2, 1, 1)
    assert h.fractions == pytest.approx((0.2, 0.4, 0.2, 0.2))
    assert s.histogram(first_frame=0).labels[:3] == ("0", "1", "2")


def test_summary_when_no_video_starts() -> None:
    s = start_time_summary(np.full((3, 4), 0.2))
    assert (s.counts, s.never) == ((0, 0, 0, 0), 3)
    assert math.isnan(s.mean) and math.isnan(s.median)
    assert s.histogram().counts == (0, 0, 0, 0, 3)
