"""The probe networks of the two modes (see :mod:`fsar_bench.analysis.probe.trained`).

* :class:`FeatureProbe` (``feature-tsm``): a learned 1x1 reduction of the frozen features,
  then the temporal-shift blocks of :class:`~fsar_bench.analysis.probe.tsm.FeatureTSMProbe`.
* :class:`FrameTSM` (``tsm-resnet50``): TSM ResNet-50 on decoded frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from fsar_bench.analysis.probe.config import INPUTS, ProbeConfig
from fsar_bench.analysis.probe.tsm import FeatureTSMProbe, TSMOutput, tsm_resnet50
from fsar_bench.features.backbones import IMAGENET_MEAN, IMAGENET_STD

if TYPE_CHECKING:
    from fsar_bench.analysis.probe.clips import FeatureClips, FrameClips


class FrameTSM(nn.Module):
    """TSM ResNet-50 on uint8 clips ``[N, T, 3, S, S]`` (ImageNet normalisation inside).

    No partial BatchNorm: TSM's recipe for training from ImageNet weights (its Kinetics script,
    ``--npb``) trains every BatchNorm layer.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255)

    def forward(self, x: Tensor) -> TSMOutput:
        """``[N, T, 3, S, S]`` uint8 -> :class:`TSMOutput` (``[N, T, K]``, ``[N, K]``)."""
        frames = (x.flatten(0, 1).float() - self.mean) / self.std  # [N*T, 3, S, S]
        return self.net(frames)


def frame_differences(x: Tensor) -> Tensor:
    """``x_t - x_{t-1}`` along dim 1 (zero at ``t = 0``): ``[N, T, ...]`` -> same shape."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)


class FeatureProbe(nn.Module):
    """A learned per-frame 1x1 reduction of the frozen features, then the shift blocks.

    The reduction stands in for the convolutions that precede every shift inside TSM's
    backbone: with frozen features, the shift would otherwise move fixed channels, and the
    blocks could never compare a feature with itself one frame away.

    Args:
        in_channels: ``C`` of the cached features.
        width: channels after the reduction.
        num_classes, hidden, blocks, spatial, dropout: see
            :class:`~fsar_bench.analysis.probe.tsm.FeatureTSMProbe`.
        inputs: ``"diff"`` reads :func:`frame_differences` of the features (TSN's RGB-difference
            idea applied to frozen features; see :mod:`fsar_bench.analysis.probe.trained`),
            ``"raw"`` the features themselves.
    """

    def __init__(
        self,
        in_channels: int,
        width: int,
        num_classes: int,
        *,
        hidden: int,
        blocks: int,
        spatial: bool,
        dropout: float,
        inputs: str = "raw",
    ) -> None:
        super().__init__()
        if inputs not in INPUTS:
            raise ValueError(f"inputs must be one of {INPUTS}, not {inputs!r}")
        self.inputs = inputs
        self.reduce = nn.Sequential(
            nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        self.tsm = FeatureTSMProbe(
            width, num_classes, hidden=hidden, n_blocks=blocks, spatial=spatial, dropout=dropout
        )

    def forward(self, x: Tensor) -> TSMOutput:
        """``[N, T, C, H, W]`` (or pooled ``[N, T, C]``) -> :class:`TSMOutput`."""
        n, t = x.shape[:2]
        if self.inputs == "diff":
            x = frame_differences(x)
        h = x.reshape(n * t, x.shape[2], *(x.shape[3:] or (1, 1)))  # [N*T, C, H, W]
        h = self.reduce(h)  # [N*T, width, H, W]
        return self.tsm(h.view(n, t, *h.shape[1:]) if x.dim() == 5 else h.view(n, t, -1))


def build_model(config: ProbeConfig, clips: FeatureClips | FrameClips, n_classes: int) -> nn.Module:
    """The probe network of ``config.mode`` (see :mod:`fsar_bench.analysis.probe.trained`)."""
    if config.mode == "feature-tsm":
        return FeatureProbe(
            clips.channels,
            config.width,
            n_classes,
            hidden=config.hidden,
            blocks=config.blocks,
            spatial=clips.spatial,
            dropout=config.dropout,
            inputs=config.inputs,
        )
    net = tsm_resnet50(
        n_classes, clips.frames, config.weights, config.random_init, dropout=config.dropout
    )
    return FrameTSM(net)
