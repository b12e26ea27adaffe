"""RVN: the Relation Video Network baseline of Cao et al. (CVIU 2021, Sec. 4.3.1, Figs. 4-5).

Input kind ``"spatial"``: a video is ``[T, C, H, W]``. The ``T`` frames are split in order into
clips of ``T' = clip_len`` frames; a clip's feature map is ``[C, T', H, W]``. The video
feature is the mean of its clip maps (the paper's ``M(f(x))``; the order of the clips is lost),
a class feature is the mean over its ``K`` shots ("the mean feature is computed as the centroid
of each class"). The pair ``cat(class feature, query feature)`` ``[2C, T', H, W]`` goes through
the relation module ``g``:

    2 x [Conv3d(64 filters), BatchNorm3d, ReLU] -> global average pool -> Linear(64, 64), ReLU
    -> Linear(64, 1) -> sigmoid

and the relation score in ``[0, 1]`` is the logit of that class (higher is more similar).
Kernels (``kernels``, paper Table 1): ``"rvn-1"`` ``3x3x3, 3x3x3`` (the best, default),
``"rvn-2"`` ``3x3x3, 3x1x1``, ``"rvn-3"`` ``1x3x3, 1x3x3``; zero padding keeps ``T', H, W``.

Loss: mean squared error between the scores ``[E, Q, N]`` and the one-hot labels, as in
Relation Networks (Sung et al., CVPR 2018); the paper does not name RVN's loss.

Config fields (:class:`RVNConfig`): ``kernels``, ``clip_len`` (``T'``; 1: one clip per frame),
``channels`` (64), ``pair_chunk`` (pairs per relation-module call in evaluation, bounds memory).

``extras`` keys: none. State keys (leading ``V``): ``as_class``, ``as_query`` ``[V, 64, T', H, W]``.

Implementation: the first convolution is linear in the concatenated pair, so it is split into a
class half (with the bias) and a query half, each applied once per video in :meth:`RVN.embed`;
``compare`` adds the halves of every (query, class) pair. Averaging over shots commutes with the
class half (bias included), so the class feature is the mean of its shots' class halves. This is
the same function as one ``Conv3d(2C, 64)`` on the concatenation (tested against it).

Deviations from the paper:

* Input: per-frame maps of the suite's frozen 2D backbone, not per-clip MFNet maps
  (``C = 768``, ``T' = 8``, ``4 x 4``, ``T = 3`` clips of 16 frames) fine-tuned end to end. With
  the default one clip per frame (``T' = 1``, matching :mod:`fsar_bench.methods.ita`, whose LSTM
  runs over the frames as the paper's runs over clips) a temporal kernel of 3 only meets zero
  padding, so it is built with temporal size 1 (the same function, a third of the cost) and
  RVN-1 equals RVN-3. ``clip_len=8`` treats the 8 frames as one clip (``T' = 8``).
* The ReLU between the two fully connected layers and the concatenation order (class feature
  first, as in Relation Networks) are our reading of Fig. 5.
* No adapter: the relation module's first convolution is already a trainable linear map of the
  features, so the identity-initialised adapter of the other methods would add nothing.
* BatchNorm in training normalises over all pairs of one ``compare`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState, group_by_label

KERNELS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "rvn-1": ((3, 3, 3), (3, 3, 3)),
    "rvn-2": ((3, 3, 3), (3, 1, 1)),
    "rvn-3": ((1, 3, 3), (1, 3, 3)),
}


@dataclass(frozen=True, kw_only=True)
class RVNConfig:
    """RVN settings; defaults are the paper's best relation module (RVN-1)."""

    kernels: str = "rvn-1"
    clip_len: int = 1
    channels: int = 64
    pair_chunk: int = 4096

    def __post_init__(self) -> None:
        if self.kernels not in KERNELS:
            raise FsarError(f"rvn kernels {self.kernels!r} unknown; choose one of {list(KERNELS)}")
        if min(self.clip_len, self.channels, self.pair_chunk) < 1:
            raise FsarError("rvn clip_len, channels and pair_chunk must be >= 1")


def _conv(c_in: int, c_out: int, kernel: tuple[int, int, int], t: int, bias: bool) -> nn.Conv3d:
    """Conv3d with 'same' zero padding; a temporal kernel is shrunk to 1 when ``T' = 1``."""
    kernel = (1 if t == 1 else kernel[0], *kernel[1:])
    return nn.Conv3d(c_in, c_out, kernel, padding=tuple(k // 2 for k in kernel), bias=bias)


class RVN(FewShotMethod):
    """Relation Video Network on spatial maps ``[V, T, C, H, W]``; see the module docstring.

    Args:
        feature_dim: ``C`` of the input maps.
        config: :class:`RVNConfig`.
    """

    input_kind = "spatial"

    def __init__(self, feature_dim: int, config: RVNConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or RVNConfig()
        self.clip_len = cfg.clip_len
        first, second = KERNELS[cfg.kernels]
        c, t = cfg.channels, cfg.clip_len
        self.conv_class = _conv(feature_dim, c, first, t, bias=True)
        self.conv_query = _conv(feature_dim, c, first, t, bias=False)
        self.block1 = nn.Sequential(nn.BatchNorm3d(c), nn.ReLU())
        self.block2 = nn.Sequential(_conv(c, c, second, t, True), nn.BatchNorm3d(c), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, 1))

    def video_map(self, videos: Tensor) -> Tensor:
        """``[V, T, C, H, W]`` -> mean clip map ``[V, C, T', H, W]``."""
        v, t = videos.shape[:2]
        if t % self.clip_len:
            raise FsarError(f"rvn clips of {self.clip_len} frames do not divide T = {t}")
        clips = videos.reshape(v, t // self.clip_len, self.clip_len, *videos.shape[2:])
        return clips.mean(1).transpose(1, 2)  # [V, C, T', H, W]

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, C, H, W]`` -> both halves of the first convolution ``[V, 64, T', H, W]``."""
        x = self.video_map(videos)
        return {"as_class": self.conv_class(x), "as_query": self.conv_query(x)}

    def relate(self, first: Tensor) -> Tensor:
        """First-conv outputs of pairs ``[P, 64, T', H, W]`` -> relation scores ``[P]``."""
        x = self.block2(self.block1(first)).mean((2, 3, 4))  # [P, 64]
        return torch.sigmoid(self.head(x)).squeeze(-1)

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """States ``[E, S, ...]`` / ``[E, Q, ...]`` -> relation scores ``[E, Q, N]``."""
        classes = group_by_label(support["as_class"], support_labels, n_way).mean(2)  # [E, N, ...]
        e, n_query = query["as_query"].shape[:2]
        rows = query["as_query"].flatten(0, 1)  # [E*Q, 64, T', H, W]
        episode = torch.arange(e, device=rows.device).repeat_interleave(n_query)  # [E*Q]
        # training: one call, so BatchNorm sees all pairs; evaluation: bounded pair chunks
        step = len(rows) if self.training else max(1, self.config.pair_chunk // n_way)
        scores = [
            self.relate((classes[episode[i : i + step]] + rows[i : i + step, None]).flatten(0, 1))
            for i in range(0, len(rows), step)
        ]  # pairs in (episode, query, class) order
        return EpisodeOutput(logits=torch.cat(scores).reshape(e, n_query, n_way))

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        """MSE between scores ``[E, Q, N]`` and one-hot ``query_labels [E, Q]``."""
        target = F.one_hot(query_labels, output.logits.shape[-1]).to(output.logits.dtype)
        return F.mse_loss(output.logits, target)
