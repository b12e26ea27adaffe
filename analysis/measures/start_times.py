"""Action start times (action duration misalignment), TA2N supplementary and Fig. 2.

TA2N (Li et al., AAAI 2022, supplementary) defines a video's *start time* as the frame index
``t`` with ``p_t >= 0.5`` and ``p_1 .. p_{t-1} < 0.5``, where ``p`` is the video's evolution
vector (true-class probability per frame, see
:func:`fsar_bench.analysis.measures.aem.evolution_vectors`). That is simply the first frame that
reaches the threshold; later drops below it do not matter.

Conventions here:

* Frames are indexed from 0 (the paper counts from 1); :meth:`StartTimeSummary.histogram` takes
  the number of the first frame for display.
* A video that never reaches the threshold gets :data:`NEVER` (``-1``). The paper does not say
  what it did with such videos; they are kept in their own bucket and counted, never dropped.
* ``mean`` and ``median`` are over the videos that do start; ``nan`` when none does.
* NaN or infinite probabilities are rejected (a comparison with NaN would silently read "below").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from fsar_bench.results.record import JsonRecord

NEVER = -1
"""Start time of a video whose evolution vector never reaches the threshold."""


def start_times(p: ArrayLike, threshold: float = 0.5) -> np.ndarray:
    """First frame whose probability reaches ``threshold`` (``p_t >= threshold``), per video.

    Args:
        p: ``[V, T]`` evolution vectors.
        threshold: the level that marks the action as started (TA2N: 0.5).

    Returns:
        ``[V]`` int64 frame indices in ``0 .. T - 1``, or :data:`NEVER` where no frame reaches it.
    """
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"evolution vectors must be [V, T] with T >= 1, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("evolution vectors contain NaN or inf")
    reached = p >= threshold  # [V, T]
    first = reached.argmax(axis=1)  # first True, or 0 when none
    return np.where(reached.any(axis=1), first, NEVER).astype(np.int64)


@dataclass(frozen=True, kw_only=True)
class StartTimeHistogram(JsonRecord):
    """Bars for a start-time plot: one per frame, then the "never" bucket.

    Attributes:
        labels: bar labels, e.g. ``("1", ..., "8", "never")``.
        counts: videos per bar.
        fractions: ``counts / n_videos``.
    """

    labels: tuple[str, ...]
    counts: tuple[int, ...]
    fractions: tuple[float, ...]


@dataclass(frozen=True, kw_only=True)
class StartTimeSummary(JsonRecord):
    """Distribution of start times over a dataset (``aem.json``'s ``start_times``, with the
    :meth:`histogram` written beside the fields).

    Attributes:
        threshold: the threshold used.
        n_videos: ``V``.
        counts: ``[T]`` videos starting at frame ``t`` (0-based).
        never: videos that never reach the threshold.
        mean: mean start frame (0-based) over videos that start; ``nan`` if none.
        median: median start frame (0-based) over videos that start; ``nan`` if none.
    """

    threshold: float
    n_videos: int
    counts: tuple[int, ...]
    never: int
    mean: float
    median: float

    def histogram(self, first_frame: int = 1) -> StartTimeHistogram:
        """Bars for plotting; frames are labelled from ``first_frame`` (1 = the paper's way)."""
        labels = tuple(str(t + first_frame) for t in range(len(self.counts))) + ("never",)
        counts = (*self.counts, self.never)
        n = max(self.n_videos, 1)
        return StartTimeHistogram(
            labels=labels, counts=counts, fractions=tuple(c / n for c in counts)
        )

    def to_json(self) -> dict[str, Any]:
        """The fields and the :meth:`histogram` (read back from the fields alone)."""
        return {**super().to_json(), "histogram": self.histogram().to_json()}


def start_time_summary(p: ArrayLike, threshold: float = 0.5) -> StartTimeSummary:
    """Start times of all videos and their distribution.

    Args:
        p: ``[V, T]`` evolution vectors.
        threshold: see :func:`start_times`.

    Returns:
        A :class:`StartTimeSummary`; its counts plus ``never`` add up to ``V``.
    """
    starts = start_times(p, threshold)  # [V]
    n_frames = np.asarray(p).shape[1]
    started = starts[starts != NEVER]
    counts = np.bincount(started, minlength=n_frames)
    return StartTimeSummary(
        threshold=float(threshold),
        n_videos=int(starts.size),
        counts=tuple(int(c) for c in counts),
        never=int(starts.size - started.size),
        mean=float(started.mean()) if started.size else float("nan"),
        median=float(np.median(started)) if started.size else float("nan"),
    )
