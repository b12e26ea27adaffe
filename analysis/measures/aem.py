"""Action evolution misalignment (AEM), TA2N supplementary Eq. (10).

A probe classifier (see :mod:`fsar_bench.analysis.probe.tsm`) gives every video a per-frame class
probability matrix ``P`` of shape ``[classes, T]``; the row of the video's true class,
``p = [p_1 .. p_T]``, is its *evolution vector*. TA2N (Li et al., AAAI 2022, supplementary,
Eq. 10) scores a dataset by

    AEM = (1 / M) * sum_{i, j} [1 - cos(p_i, p_j)],   M = 2 * v * (v - 1),

with ``v`` videos. This module sums over the ``v * (v - 1)`` *ordered* pairs ``i != j`` (the
diagonal terms are 0 anyway), so ``AEM`` is exactly **half the mean pairwise cosine distance**;
:func:`mean_pairwise_cosine_distance` gives the mean itself.

The pair sum is not computed with a double loop: with unit vectors ``u_i = p_i / |p_i|``,
``sum_{i != j} cos(p_i, p_j) = |sum_i u_i|^2 - v``, which costs ``O(v * T)``.

Notes on fidelity:

* For probability vectors (non-negative entries) every cosine lies in ``[0, 1]``, so Eq. (10) as
  printed is bounded by ``0.5``. The published SSv2 score (0.6260; UCF101 0.1653, HMDB51 0.3697)
  exceeds that bound, so the authors' computation cannot have been Eq. (10) over probability
  vectors as printed; the mean pairwise cosine distance (bounded by 1) is one reading consistent
  with all three published values. We implement the equation as printed and expose the mean too.
* All-zero evolution vectors have no direction; their cosine is undefined. They are an error
  (:class:`ValueError` naming how many and which rows), never silently dropped; filter them
  yourself and report the count if your data has them. Non-finite values are an error too.

Everything is computed in numpy ``float64``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def evolution_vectors(probs: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Select each video's true-class row of its per-frame probabilities.

    Args:
        probs: ``[V, classes, T]`` per-frame class probabilities (softmax over classes).
        labels: ``[V]`` integer ground-truth classes in ``0 .. classes - 1``.

    Returns:
        ``[V, T]`` float64 evolution vectors ``p_i``.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 3:
        raise ValueError(f"probs must be [V, classes, T], got shape {probs.shape}")
    if labels.shape != (probs.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be [V] = [{probs.shape[0]}] integers, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must lie in 0..{probs.shape[1] - 1}")
    return probs[np.arange(probs.shape[0]), labels]


def _unit_rows(p: ArrayLike) -> np.ndarray:
    """``[V, T]`` -> ``[V, T]`` rows scaled to unit L2 norm; rejects zero rows and NaN/inf."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"evolution vectors must be [V, T], got shape {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("evolution vectors contain NaN or inf")
    if p.shape[0] < 2:
        raise ValueError(f"need at least 2 videos for pairwise cosines, got {p.shape[0]}")
    norms = np.linalg.norm(p, axis=1)  # [V]
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{zero.size} of {p.shape[0]} evolution vectors are all zero (rows "
            f"{zero[:10].tolist()}); their cosine is undefined: drop them and report the count"
        )
    return p / norms[:, None]


def _cos_sum_off_diagonal(p: ArrayLike) -> tuple[float, int]:
    """``sum_{i != j} cos(p_i, p_j)`` via ``|sum_i u_i|^2 - v``; returns ``(sum, v)``."""
    u = _unit_rows(p)  # [V, T]
    total = u.sum(axis=0)  # [T]
    v = u.shape[0]
    return float(total @ total) - v, v


def mean_pairwise_cosine_distance(p: ArrayLike) -> float:
    """Mean of ``1 - cos(p_i, p_j)`` over the ``v * (v - 1)`` ordered pairs ``i != j``.

    Args:
        p: ``[V, T]`` evolution vectors, ``V >= 2``, no all-zero row.

    Returns:
        The mean cosine distance, in ``[0, 2]`` (``[0, 1]`` for non-negative vectors).
    """
    cos_sum, v = _cos_sum_off_diagonal(p)
    pairs = v * (v - 1)
    # Rounding can push the closed form a hair below 0 for identical vectors.
    return max(0.0, (pairs - cos_sum) / pairs)


def aem(p: ArrayLike) -> float:
    """TA2N Eq. (10): ``(1 / M) * sum_{i != j} [1 - cos(p_i, p_j)]`` with ``M = 2 v (v - 1)``.

    Equals half of :func:`mean_pairwise_cosine_distance` (``v (v - 1)`` ordered pairs divided by
    ``M``). Invariant to scaling each vector by a positive factor.

    Args:
        p: ``[V, T]`` evolution vectors of one dataset, ``V >= 2``, no all-zero row.

    Returns:
        The AEM score, in ``[0, 0.5]`` for non-negative vectors.
    """
    return 0.5 * mean_pairwise_cosine_distance(p)


def aem_per_class(p: ArrayLike, labels: ArrayLike) -> dict[int, float]:
    """AEM (Eq. 10) restricted to the videos of each class.

    Args:
        p: ``[V, T]`` evolution vectors.
        labels: ``[V]`` integer classes.

    Returns:
        ``{class: aem}`` for every class present, in increasing class order. A class with a
        single video has no pair and maps to ``nan`` (kept, not dropped).
    """
    p = np.asarray(p, dtype=np.float64)
    labels = np.asarray(labels)
    if labels.shape != (p.shape[0],):
        raise ValueError(f"labels must be [V] = [{p.shape[0]}], got shape {labels.shape}")
    out: dict[int, float] = {}
    for c in np.unique(labels):
        rows = p[labels == c]
        out[int(c)] = aem(rows) if rows.shape[0] >= 2 else float("nan")
    return out
