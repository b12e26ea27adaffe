"""Separating the probe's uncertainty from misalignment in the AEM (TA2N supplementary Eq. 10).

A probe that does not recognise a video gives it a low, flat or erratic evolution vector whose
direction has little to do with how the action unfolds; its cosine to the other videos is then
low and the AEM rises although nothing is misaligned. A weak probe therefore inflates the score.
Two measures make that visible:

* **Confident AEM**: Eq. (10) restricted to the videos the probe classifies correctly *and*
  confidently: the video-level prediction (softmax of the mean of the per-frame logits, the TSN
  consensus the probe is trained on) is the true class with probability ``>= tau`` (default
  0.5). The count and share kept are reported with it, and the AEM of the remaining videos for
  contrast. What it assumes: confident videos are a fair sample of the dataset's misalignment.
  They need not be (a probe may recognise the well-aligned videos more easily), so the share
  kept must be read beside it; on the synthetic levels the ground-truth AEM of the same subset
  (:mod:`fsar_bench.analysis.measures.reference`) shows how far the selection itself moves the
  truth.
* **Within-class AEM**: Eq. (10) over the ordered pairs of videos *of the same class* only
  (pooled: every class's pair sum over all classes' pair counts). Over all pairs, as TA2N sums,
  two videos of different classes differ also because their classes become recognisable at
  different moments (a class whose first primitive is distinctive rises early), which is a
  property of the classes and of the probe, not misalignment. On the synthetic levels the
  within-class score moves with the ground-truth AEM (:mod:`fsar_bench.analysis.measures.reference`)
  where the overall one mostly does not (measured: ``docs/probe.md``). Its interval resamples
  classes (a cluster bootstrap).
* **Bootstrap interval** of the AEM (videos resampled with replacement, percentile 95%), so that
  two datasets' scores are compared with their sampling noise. A resample can hold the same
  video twice; the pair of a video with its own copy counts as a pair at distance 0, which
  biases the resampled AEM down by about ``1 / v`` of its value (negligible for hundreds of
  videos; stated, not corrected).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from fsar_bench.analysis.measures.aem import aem, mean_pairwise_cosine_distance
from fsar_bench.results.record import JsonRecord

TAU = 0.5


@dataclass(frozen=True, kw_only=True)
class SubsetAem(JsonRecord):
    """Both AEM readings of a subset of the videos (``nan`` under 2 videos)."""

    videos: int
    aem_eq10_as_printed: float
    mean_pairwise_cosine_distance: float


@dataclass(frozen=True, kw_only=True)
class ConfidentAem(JsonRecord):
    """AEM of the correctly and confidently classified videos, beside the others'.

    Attributes:
        tau: minimum video-level true-class probability. videos, share: the videos kept.
        aem_eq10_as_printed, mean_pairwise_cosine_distance: both readings of the kept videos.
        others: the rest.
    """

    tau: float
    videos: int
    share: float
    aem_eq10_as_printed: float
    mean_pairwise_cosine_distance: float
    others: SubsetAem


def video_confidence(frame_logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Video-level correctness and true-class probability from per-frame logits.

    Args:
        frame_logits: ``[V, T, K]`` per-frame logits.
        labels: ``[V]`` true classes.

    Returns:
        ``(correct [V] bool, prob [V] float64)``: argmax of the mean logits is the label; the
        softmax of the mean logits at the label.
    """
    z = np.asarray(frame_logits, dtype=np.float64).mean(axis=1)  # [V, K]
    z = z - z.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    labels = np.asarray(labels)
    rows = np.arange(len(labels))
    return probs.argmax(axis=1) == labels, probs[rows, labels]


def _readings(p: np.ndarray) -> dict[str, float]:
    """Both readings as keyword arguments (``nan`` under 2 videos)."""
    if len(p) < 2:
        return {"aem_eq10_as_printed": float("nan"), "mean_pairwise_cosine_distance": float("nan")}
    return {
        "aem_eq10_as_printed": aem(p),
        "mean_pairwise_cosine_distance": mean_pairwise_cosine_distance(p),
    }


def confident_mask(frame_logits: ArrayLike, labels: ArrayLike, tau: float = TAU) -> np.ndarray:
    """``[V]`` bool: classified correctly with video-level true-class probability ``>= tau``."""
    correct, prob = video_confidence(frame_logits, labels)
    return correct & (prob >= tau)


def confident_aem(
    p: ArrayLike, frame_logits: ArrayLike, labels: ArrayLike, tau: float = TAU
) -> ConfidentAem:
    """AEM of the correctly and confidently classified videos, and of the others.

    Args:
        p: ``[V, T]`` evolution vectors.
        frame_logits: ``[V, T, K]`` the probe's per-frame logits (same videos).
        labels: ``[V]`` true classes.
        tau: minimum video-level true-class probability.

    Returns:
        The kept videos' count, share and both readings, and the others'; ``nan`` readings
        under 2 videos.
    """
    p = np.asarray(p, dtype=np.float64)
    keep = confident_mask(frame_logits, labels, tau)
    return ConfidentAem(
        tau=float(tau),
        videos=int(keep.sum()),
        share=float(keep.mean()),
        **_readings(p[keep]),
        others=SubsetAem(videos=int((~keep).sum()), **_readings(p[~keep])),
    )


def bootstrap_interval(
    p: ArrayLike, n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of Eq. (10) (as printed) over ``n`` resamples of the videos.

    Args:
        p: ``[V, T]`` evolution vectors, no all-zero row.
        n: resamples.
        seed: seeds ``numpy.random.default_rng``.
        level: coverage.

    Returns:
        ``(low, high)``.
    """
    p = np.asarray(p, dtype=np.float64)
    u = p / np.linalg.norm(p, axis=1, keepdims=True)  # [V, T]
    rng = np.random.default_rng(seed)
    v = len(u)
    draws = rng.integers(0, v, size=(n, v))  # [n, V]
    sums = u[draws].sum(axis=1)  # [n, T]
    cos_sum = (sums * sums).sum(axis=1) - v  # sum over ordered pairs i != j of the resample
    scores = 0.5 * (1.0 - cos_sum / (v * (v - 1)))
    lo, hi = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _class_sums(p: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per class: ``sum_{i != j} (1 - cos)`` over its ordered pairs, and the pair count."""
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    dist, pairs = [], []
    for c in np.unique(labels):
        uc = u[labels == c]
        total, v = uc.sum(axis=0), len(uc)
        dist.append(v * (v - 1) - (float(total @ total) - v))
        pairs.append(v * (v - 1))
    return np.array(dist), np.array(pairs, dtype=np.float64)


def aem_within_class(p: ArrayLike, labels: ArrayLike) -> float:
    """Eq. (10) (as printed) over same-class ordered pairs only, pooled over the classes.

    Args:
        p: ``[V, T]`` evolution vectors, no all-zero row.
        labels: ``[V]`` classes.

    Returns:
        ``sum_c D_c / (2 * sum_c v_c (v_c - 1))`` with ``D_c`` the class's summed cosine
        distance; ``nan`` when no class has two videos.
    """
    dist, pairs = _class_sums(np.asarray(p, dtype=np.float64), np.asarray(labels))
    return float(max(0.0, dist.sum()) / (2 * pairs.sum())) if pairs.sum() else float("nan")


def within_class_interval(
    p: ArrayLike, labels: ArrayLike, n: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of :func:`aem_within_class` over ``n`` resamples of the classes."""
    dist, pairs = _class_sums(np.asarray(p, dtype=np.float64), np.asarray(labels))
    draws = np.random.default_rng(seed).integers(0, len(dist), size=(n, len(dist)))
    scores = dist[draws].sum(axis=1) / (2 * np.maximum(pairs[draws].sum(axis=1), 1))
    lo, hi = np.quantile(scores, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)
