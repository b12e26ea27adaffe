"""Ground-truth references for the AEM (TA2N supplementary Eq. 10) on the synthetic datasets.

The probe's evolution vector of a video is its true-class probability at each of the ``T``
sampled frames (:mod:`fsar_bench.analysis.measures.aem`). The synthetic generator records what that
vector
is meant to measure: the action's true progress per frame (``ground_truth.jsonl``, ``progress``:
``warp(u)`` in ``[0, 1]`` inside the action, ``None`` outside). Two reference vectors per video:

* ``progress`` (the reference): ``g_k = progress[f_k]`` at the video frame ``f_k`` of sampled step
  ``k`` (the probe's own frame indices), ``0`` where the action is absent (before its start and,
  by default, after its end). Why progress: it is the quantity an "evolution" vector traces (how
  far the action has gone at each frame), it is 0 when nothing has happened yet, and it moves
  with both temporal factors: a later start or a shorter action shifts or compresses it
  (duration misalignment), a warp bends it (evolution misalignment). A spatial offset leaves it
  unchanged, so its AEM is exactly 0 on the spatial-only levels. Why 0 after the end: the actor
  is gone and the frames are the same background as before the start (the generator's idle
  frames); a frame-level recogniser sees nothing of the action there. ``after="one"`` keeps the
  finished action's progress (1) instead, the reading of a recogniser with memory; both are
  reported.
* ``warp`` (the evolution-only reference): ``w_k = warp((k + 0.5) / T)``, the progress at ``T``
  evenly spaced points of the action's own time axis. It ignores when and how long the action
  runs, so it is 0 on the duration-only and spatial-only levels and rises with the warp alone.

A reference vector with no sampled frame inside the action is all zero and has no direction;
such videos are dropped and counted (``dropped``), never silently. Eq. (10) on the reference
vectors is computed exactly as on the probe's (both readings: as printed, ``M = 2 v (v - 1)``,
and the mean pairwise cosine distance, twice it).

Tracking. Per video, the mean cosine distance to all other videos (its share of the pair sum)
is computed for the probe's vectors and for the reference; their Spearman correlation over the
videos says whether the probe finds the misaligned videos, not only how many there are.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from fsar_bench.analysis.measures.aem import aem, mean_pairwise_cosine_distance
from fsar_bench.errors import FsarError
from fsar_bench.results.record import JsonRecord, absent_when_none

AFTER = ("zero", "one")


@dataclass(frozen=True, kw_only=True)
class ReferenceReadings(JsonRecord):
    """Eq. (10) both readings on the non-zero reference vectors; ``dropped``: the all-zero."""

    videos: int
    dropped: int
    aem_eq10_as_printed: float
    mean_pairwise_cosine_distance: float


@dataclass(frozen=True, kw_only=True)
class ReferenceAem(JsonRecord):
    """One ground-truth reference: its readings, how the probe tracks it per video
    (``tracking_spearman``) and, for ``progress``, its readings on the probe's confident
    subset (:mod:`fsar_bench.analysis.measures.uncertainty`)."""

    videos: int
    dropped: int
    aem_eq10_as_printed: float
    mean_pairwise_cosine_distance: float
    tracking_spearman: float
    confident_subset: ReferenceReadings | None = absent_when_none()


@dataclass(frozen=True, kw_only=True)
class AemReferences(JsonRecord):
    """The three references of the module docstring."""

    progress: ReferenceAem
    progress_after_one: ReferenceAem
    warp: ReferenceAem


def ground_truth_records(root: Path, video_ids: list[str]) -> list[dict]:
    """The ground-truth records (``ground_truth.jsonl``) of ``video_ids``, in that order."""
    from fsar_bench.data.synthetic import load_ground_truth

    records = {r["video_id"]: r for r in load_ground_truth(root)}
    missing = [v for v in video_ids if v not in records]
    if missing:
        raise FsarError(f"{root}: no ground truth for {len(missing)} videos (e.g. {missing[0]})")
    return [records[v] for v in video_ids]


def progress_vectors(records: list[dict], indices: ArrayLike, after: str = "zero") -> np.ndarray:
    """``[V, T]`` true progress at each sampled frame; 0 outside the action (see the module).

    Args:
        records: ``V`` ground-truth records (``progress``, ``start_frame``, ``duration``).
        indices: ``[V, T]`` 0-based video frame of each sampled step.
        after: ``"zero"`` (action absent after its end) or ``"one"`` (finished action).
    """
    if after not in AFTER:
        raise ValueError(f"after must be one of {AFTER}, not {after!r}")
    indices = np.asarray(indices)
    out = np.zeros(indices.shape, dtype=np.float64)
    for i, (record, frames) in enumerate(zip(records, indices, strict=True)):
        progress = record["progress"]
        end = record["start_frame"] + record["duration"]  # first frame after the action
        for k, f in enumerate(frames):
            value = progress[int(f)]
            if value is not None:
                out[i, k] = value
            elif after == "one" and f >= end:
                out[i, k] = 1.0
    return out


def warp_vectors(records: list[dict], t: int) -> np.ndarray:
    """``[V, T]`` the warp at ``(k + 0.5) / T`` of each video's action (duration-free)."""
    u = (np.arange(t) + 0.5) / t
    return np.stack([np.interp(u, r["warp"]["knots"], r["warp"]["values"]) for r in records])


def per_video_distance(p: ArrayLike) -> np.ndarray:
    """``[V]`` mean cosine distance of each video to the ``V - 1`` others (rows non-zero)."""
    p = np.asarray(p, dtype=np.float64)
    u = p / np.linalg.norm(p, axis=1, keepdims=True)
    cos_to_others = (u @ u.sum(0) - 1.0) / (len(u) - 1)  # [V]
    return 1.0 - cos_to_others


def aem_readings(p: ArrayLike) -> ReferenceReadings:
    """Eq. (10) both readings on the non-zero rows of ``p`` ``[V, T]``; counts the dropped."""
    p = np.asarray(p, dtype=np.float64)
    keep = np.linalg.norm(p, axis=1) > 0
    pair = keep.sum() >= 2
    return ReferenceReadings(
        videos=int(keep.sum()),
        dropped=int((~keep).sum()),
        aem_eq10_as_printed=aem(p[keep]) if pair else math.nan,
        mean_pairwise_cosine_distance=mean_pairwise_cosine_distance(p[keep]) if pair else math.nan,
    )


def _tracking(probe_p: np.ndarray, ref: np.ndarray) -> float:
    """Spearman over videos of the per-video distances (probe vs reference); nan if constant."""
    from scipy import stats

    keep = np.linalg.norm(ref, axis=1) > 0
    a, b = per_video_distance(probe_p[keep]), per_video_distance(ref[keep])
    if keep.sum() < 3 or np.ptp(a) < 1e-12 or np.ptp(b) < 1e-12:
        return float("nan")
    return float(stats.spearmanr(a, b).statistic)


def reference_report(
    records: list[dict], indices: ArrayLike, probe_p: ArrayLike, confident: np.ndarray | None = None
) -> AemReferences:
    """AEM of the ground-truth references beside the probe's (see the module docstring).

    Args:
        records: ``V`` ground-truth records of the scored videos.
        indices: ``[V, T]`` the probe's sampled frames.
        probe_p: ``[V, T]`` the probe's evolution vectors.
        confident: ``[V]`` bool, the probe's confident videos: ``progress`` is also read on
            them (``confident_subset``).

    Returns:
        Each reference with both AEM readings, the videos used and dropped, and
        ``tracking_spearman`` (per-video distances, probe vs reference).
    """
    probe_p = np.asarray(probe_p, dtype=np.float64)
    progress = progress_vectors(records, indices)
    subset = None if confident is None else aem_readings(progress[confident])

    def reference(ref: np.ndarray, confident_subset=None) -> ReferenceAem:
        readings = dataclasses.asdict(aem_readings(ref))
        tracking = _tracking(probe_p, ref)
        return ReferenceAem(
            **readings, tracking_spearman=tracking, confident_subset=confident_subset
        )

    return AemReferences(
        progress=reference(progress, subset),
        progress_after_one=reference(progress_vectors(records, indices, after="one")),
        warp=reference(warp_vectors(records, probe_p.shape[1])),
    )
