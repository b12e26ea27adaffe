"""Which frames and crops a stored clip reads: the plan of each view, and loading it.

Val/test videos have one deterministic clip (test-time sampling, centre crop); train videos have
``V`` views, each with its own frame indices, crop and flip, drawn from the video's own
generator ``numpy.random.default_rng([seed, crc32(video_id)])`` (see
:mod:`fsar_bench.features.extract`).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import torch

from fsar_bench.data.index import Video
from fsar_bench.data.sampling import test_indices, train_indices
from fsar_bench.data.video import read_frames
from fsar_bench.features.backbones import crop, resize_short
from fsar_bench.features.settings import ExtractConfig


def plan_views(video: Video, config: ExtractConfig, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices int ``[V', T]`` and crops float ``[V', 3]`` (top, left in [0, 1), flip).

    ``V' = 1`` with a centre crop (``-1``) and no flip for val/test.
    """
    t = config.frames
    if not train:
        return np.array([test_indices(video.n_frames, t, config.sampling)]), np.array([[-1, -1, 0]])
    rng = np.random.default_rng([config.seed, zlib.crc32(video.video_id.encode())])
    idx = np.array(
        [train_indices(video.n_frames, t, rng, config.train_sampling) for _ in range(config.views)]
    )
    crops = rng.random((config.views, 3))
    crops[:, 2] = (crops[:, 2] < 0.5) & config.flip
    return idx, crops


def load_views(path: Path, idx: np.ndarray, crops: np.ndarray, size: int) -> torch.Tensor:
    """Decode, resize and crop: uint8 ``[V' * T, 3, size, size]`` in view-major order."""
    uniq, inverse = np.unique(idx.ravel(), return_inverse=True)
    x = torch.from_numpy(read_frames(path, uniq.tolist())).permute(0, 3, 1, 2)  # [U, 3, H, W]
    x = resize_short(x, size)
    rows = inverse.reshape(idx.shape)
    return torch.cat([crop(x[r], size, *c) for r, c in zip(rows, crops)]).contiguous()


def train_plan(
    video: Video, frames: int, rng: np.random.Generator, flip: bool, sampling: str = "trx"
) -> tuple[np.ndarray, np.ndarray]:
    """A fresh training clip of ``video`` (end-to-end training draws one per use, as the TRX/TA2N
    loaders do): indices int ``[1, T]`` and one crop for every frame ``[1, 3]`` (top, left in
    [0, 1), flip with probability 1/2 when ``flip``)."""
    idx = np.array([train_indices(video.n_frames, frames, rng, sampling)])
    crops = rng.random((1, 3))
    crops[:, 2] = (crops[:, 2] < 0.5) & flip
    return idx, crops


class ClipReader(torch.utils.data.Dataset):
    """Decodes planned clips in DataLoader workers; ``reader[(path, idx, crops)]`` is uint8
    ``[V' * T, 3, size, size]`` (:func:`load_views`). The plans are drawn by the caller's
    generator in the main process, never here."""

    def __init__(self, root: Path, size: int) -> None:
        self.root, self.size = Path(root), size

    def __getitem__(self, plan: tuple[str, np.ndarray, np.ndarray]) -> torch.Tensor:
        path, idx, crops = plan
        return load_views(self.root / path, idx, crops, self.size)
