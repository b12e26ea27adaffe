"""Frame sampling: which ``T`` frame indices of an ``n``-frame video a method sees.

Test-time sampling is deterministic, so every method sees identical frames:

* ``"trx"`` (default; TRX and TA2N loaders): ``linspace(1, n - 2, T)`` truncated to integers,
  falling back to ``linspace(0, n - 1, T)`` when that span is shorter than ``T``; videos with
  exactly ``T`` frames use all of them.
* ``"centre"`` (TSN): the centre frame of each of ``T`` equal segments.

Training-time sampling draws from a ``numpy.random.Generator`` the caller owns (never the global
``random`` module):

* ``"trx"``: random start in ``[0, pad]`` and end in ``[n - 1 - pad, n - 1]`` with
  ``pad = int(min(5, (n - T) / 2))``, then linspace (TRX/TA2N loader);
* ``"tsn"``: one random frame in each of ``T`` equal segments (TSN/TSM).

Videos shorter than ``T`` frames repeat frames (indices are non-decreasing).
"""

from __future__ import annotations

import numpy as np

TEST_MODES = ("trx", "centre")
TRAIN_MODES = ("trx", "tsn")


def _linspace(start: int, end: int, t: int) -> list[int]:
    return [int(f) for f in np.linspace(start, end, num=t)]


def test_indices(n_frames: int, t: int, mode: str = "trx") -> list[int]:
    """Deterministic test-time indices (length ``t``) for a video of ``n_frames``."""
    _check(n_frames, t)
    if mode == "trx":
        if n_frames == t:
            return list(range(t))
        start, end = 1, n_frames - 2
        if end - start < t:
            start, end = 0, n_frames - 1
        return _linspace(start, end, t)
    if mode == "centre":
        edges = np.linspace(0, n_frames, t + 1)
        return [min(int((a + b) / 2), n_frames - 1) for a, b in zip(edges[:-1], edges[1:])]
    raise ValueError(f"unknown test sampling {mode!r}; choose from {TEST_MODES}")


def train_indices(n_frames: int, t: int, rng: np.random.Generator, mode: str = "trx") -> list[int]:
    """Random training-time indices (length ``t``) drawn from ``rng``."""
    _check(n_frames, t)
    if mode == "trx":
        if n_frames == t:
            return list(range(t))
        pad = int(min(5, (n_frames - t) / 2))
        if pad < 1:
            start, end = 0, n_frames - 1
        else:
            start = int(rng.integers(0, pad + 1))
            end = int(rng.integers(n_frames - 1 - pad, n_frames))
        if end - start < t:
            start, end = 0, n_frames - 1
        return _linspace(start, end, t)
    if mode == "tsn":
        edges = np.linspace(0, n_frames, t + 1)
        lo = np.floor(edges[:-1]).astype(int)
        hi = np.maximum(np.ceil(edges[1:]).astype(int), lo + 1)
        return [min(int(v), n_frames - 1) for v in rng.integers(lo, hi)]
    raise ValueError(f"unknown train sampling {mode!r}; choose from {TRAIN_MODES}")


def _check(n_frames: int, t: int) -> None:
    if n_frames < 1 or t < 1:
        raise ValueError(f"cannot sample {t} frames from a video of {n_frames} frames")
