"""Action onset from a probe's per-frame outputs: an estimator aimed at the start, not at TA2N's
"recognisable" time.

TA2N's start time (:mod:`fsar_bench.analysis.measures.start_times`, kept as the paper's estimator)
is the first sampled frame whose true-class probability reaches 0.5. It marks when the class becomes
recognisable, which lags the action's start, and a video the probe never recognises well has
no start at all.

Estimator here (``confidence_onset``): the first sampled step whose **confidence** reaches a
threshold (default 0.5), the confidence being the normalised negative entropy of the per-frame
class distribution, ``1 - H(P_t) / log K`` (0: uniform over the ``K`` classes, 1: one class
certain), or the largest class probability (``signal="max"``). It needs no label: it asks
"is *some* action under way here", not "is *this* class recognisable". Videos whose confidence
never reaches the threshold get :data:`~fsar_bench.analysis.measures.start_times.NEVER`, counted.

Assumptions, each of which can fail:

* Frames without the action make the probe unsure. The probe has no background class; it is
  trained on action clips only, so on a frame that shows no action it should spread its
  probability. On the synthetic data idle frames are the bare background (frame differences
  are exactly zero there), so this holds by construction. On real videos, scene context
  (objects, places) can make a probe confident before the action starts: the onset comes early.
* The probe is confident on the action's frames; a weak probe gives late onsets or none.
* Outputs are local in time. Every temporal-shift block lets a frame's output see its
  neighbours (4 blocks: the whole 8-frame clip), so a background frame just before the action
  can already be confident: onsets tend to come up to a step early.
* With frame-difference inputs (the ``feature-tsm`` default), the first sampled frame reads
  zeros, so an action that runs from the first sampled frame and one that appears at the
  second give the same first non-zero input. :func:`oracle_steps` with ``merge_first=True``
  gives the ceiling of an estimator that cannot tell those apart.
* The threshold is fixed a priori (0.5 of the normalised scale); it is not tuned on the ground
  truth.

Step-level ceiling. A step ``k`` is compared with the true start through the video frame it was
sampled from (as TA2N's rule is), so even a perfect step-level estimator is late by up to one
sampling gap; :func:`oracle_steps` gives that estimator (the first sampled frame at or after the
true start) so that every estimator is read against what the sampling allows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fsar_bench.analysis.measures.start_times import NEVER

SIGNALS = ("negentropy", "max")
THRESHOLD = 0.5


def confidence(frame_logits: ArrayLike, signal: str = "negentropy") -> np.ndarray:
    """``[V, T]`` label-free per-frame confidence in ``[0, 1]`` from ``[V, T, K]`` logits.

    Args:
        frame_logits: per-frame logits (``K >= 2`` classes).
        signal: ``"negentropy"`` (``1 - H / log K``) or ``"max"`` (largest class probability).
    """
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}, not {signal!r}")
    z = np.asarray(frame_logits, dtype=np.float64)
    if z.ndim != 3 or z.shape[2] < 2:
        raise ValueError(f"frame_logits must be [V, T, K >= 2], got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError("frame_logits contain NaN or inf")
    log_p = z - z.max(axis=2, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(axis=2, keepdims=True))  # [V, T, K]
    p = np.exp(log_p)
    if signal == "max":
        return p.max(axis=2)
    entropy = -(p * log_p).sum(axis=2)  # [V, T]; 0 * -inf cannot occur: log_p is finite
    return np.clip(1.0 - entropy / np.log(z.shape[2]), 0.0, 1.0)


def first_reaching(x: ArrayLike, threshold: float) -> np.ndarray:
    """``[V]`` first step with ``x >= threshold`` per row of ``[V, T]``, else ``NEVER``."""
    reached = np.asarray(x) >= threshold
    return np.where(reached.any(axis=1), reached.argmax(axis=1), NEVER).astype(np.int64)


def confidence_onset(
    frame_logits: ArrayLike, threshold: float = THRESHOLD, signal: str = "negentropy"
) -> np.ndarray:
    """``[V]`` onset step: the first sampled step whose confidence reaches ``threshold``.

    Args:
        frame_logits: ``[V, T, K]`` per-frame logits of the probe.
        threshold: on the confidence scale ``[0, 1]`` (see :func:`confidence`).
        signal: ``"negentropy"`` or ``"max"``.

    Returns:
        int64 steps in ``0 .. T - 1``, or ``NEVER``.
    """
    return first_reaching(confidence(frame_logits, signal), threshold)


def oracle_steps(
    indices: ArrayLike, true_start: ArrayLike, merge_first: bool = False
) -> np.ndarray:
    """``[V]`` the first sampled step at or after the true start (``NEVER`` if none).

    Args:
        indices: ``[V, T]`` video frame of each sampled step.
        true_start: ``[V]`` true 0-based start frames.
        merge_first: report step 0 as step 1 (an estimator blind to the first sampled frame).
    """
    indices = np.asarray(indices)
    steps = (indices < np.asarray(true_start)[:, None]).sum(axis=1)  # [V]
    if merge_first:
        steps = np.maximum(steps, 1)
    return np.where(steps < indices.shape[1], steps, NEVER).astype(np.int64)
