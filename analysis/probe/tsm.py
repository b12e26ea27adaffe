"""TSM probes that give per-frame class scores for the misalignment analyses.

TA2N's supplementary trains a TSM classifier (Lin et al., ICCV 2019) per dataset and reads the
per-frame class probabilities of each video. Two models are provided:

* :func:`tsm_resnet50`: the real thing, following the authors' ``ops/models.py`` and
  ``ops/temporal_shift.py`` (mit-han-lab/temporal-shift-module): torchvision ResNet-50 with a
  temporal shift (``fold_div = 8``) before ``conv1`` of every bottleneck ("blockres"), the ``fc``
  replaced by dropout and a new linear layer initialised ``N(0, 0.001)`` with zero bias, and TSN's
  average consensus over segments. Attribute names (``base_model``, ``new_fc``, ``.net``) follow
  the authors' code, so their state-dict keys (without the ``module.`` prefix) fit. Training
  details that belong to a training loop, not to the module (partial BN, one random frame per
  segment in training, segment centres at test), are not implemented here. Difference: the
  authors put the linear layer inside ``base_model`` when ``dropout == 0``; here it is always
  ``new_fc``.
* :class:`FeatureTSMProbe`: a CPU-affordable stand-in that works on cached backbone features.
  It is **not** the full TSM: the backbone is frozen (features computed once) and only a few
  residual blocks with the same residual-shift design are trained on top.

Both return per-frame logits ``[N, T, classes]`` (the per-segment scores before the average)
and the averaged video logits ``[N, classes]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlparse

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.models import ResNet, ResNet50_Weights, resnet50
from torchvision.models.resnet import Bottleneck

from fsar_bench.analysis.probe.temporal_shift import TemporalShift, temporal_shift
from fsar_bench.errors import FsarError


class TSMOutput(NamedTuple):
    """Per-frame and per-video class scores.

    Attributes:
        frame_logits: ``[N, T, classes]`` per-segment scores before the temporal average.
        video_logits: ``[N, classes]`` their mean over ``T`` (TSN average consensus).
    """

    frame_logits: Tensor
    video_logits: Tensor


def class_probabilities(frame_logits: Tensor) -> np.ndarray:
    """Softmax over classes, laid out for
    :func:`fsar_bench.analysis.measures.aem.evolution_vectors`.

    Args:
        frame_logits: ``[N, T, classes]``.

    Returns:
        ``[N, classes, T]`` float64 probabilities.
    """
    probs = torch.softmax(frame_logits.detach().double(), dim=-1)  # [N, T, K]
    return probs.transpose(1, 2).cpu().numpy()


def add_residual_shift(net: ResNet, n_segment: int, fold_div: int = 8) -> int:
    """Wrap ``conv1`` of every bottleneck of ``net`` in :class:`TemporalShift`, in place.

    Returns:
        The number of wrapped convolutions (16 for ResNet-50).
    """
    count = 0
    for block in net.modules():
        if isinstance(block, Bottleneck) and not isinstance(block.conv1, TemporalShift):
            block.conv1 = TemporalShift(block.conv1, n_segment, fold_div)
            count += 1
    return count


def imagenet_weights_path() -> Path:
    """Where torchvision caches ResNet-50 ``IMAGENET1K_V1`` (``$TORCH_HOME/hub/checkpoints``)."""
    name = Path(urlparse(ResNet50_Weights.IMAGENET1K_V1.url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def _read_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise FsarError(f"ResNet-50 weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_backbone(net: ResNet, path: Path) -> None:
    """Load a torchvision ResNet-50 state dict into ``net``; its ``fc`` entries are ignored."""
    state = {k: v for k, v in _read_state_dict(path).items() if not k.startswith("fc.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise FsarError(
            f"{path} is not a torchvision ResNet-50 state dict "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


class TSMResNet50(nn.Module):
    """TSM ResNet-50 (build it with :func:`tsm_resnet50`).

    Args:
        base_model: a torchvision ResNet-50 whose bottlenecks already carry the shift.
        num_classes: output classes.
        n_segment: ``T``, segments per video.
        dropout: dropout before the classifier.
    """

    def __init__(self, base_model: ResNet, num_classes: int, n_segment: int, dropout: float):
        super().__init__()
        feature_dim = base_model.fc.in_features
        base_model.fc = nn.Dropout(dropout)
        self.base_model = base_model
        self.new_fc = nn.Linear(feature_dim, num_classes)
        nn.init.normal_(self.new_fc.weight, 0.0, 0.001)
        nn.init.zeros_(self.new_fc.bias)
        self.n_segment = n_segment

    def forward(self, x: Tensor) -> TSMOutput:
        """``[N * T, 3, H, W]`` frames (each video's ``T`` adjacent) -> :class:`TSMOutput`."""
        logits = self.new_fc(self.base_model(x))  # [N*T, K]
        frame_logits = logits.view(-1, self.n_segment, logits.shape[-1])  # [N, T, K]
        return TSMOutput(frame_logits, frame_logits.mean(dim=1))


def tsm_resnet50(
    num_classes: int,
    n_segment: int,
    weights: str | Path | None = None,
    random_init: bool = False,
    *,
    fold_div: int = 8,
    dropout: float = 0.5,
) -> TSMResNet50:
    """TSM ResNet-50 with residual shift, ImageNet-initialised without any download.

    Args:
        num_classes: output classes.
        n_segment: ``T``, segments per video.
        weights: a torchvision ResNet-50 state dict (``.pth`` or ``.safetensors``; ``fc``
            ignored). ``None`` uses torchvision's cached ``IMAGENET1K_V1`` file
            (:func:`imagenet_weights_path`) if present.
        random_init: skip ImageNet weights (tests); then ``weights`` must be ``None``.
        fold_div: see :func:`fsar_bench.analysis.probe.temporal_shift.temporal_shift`.
        dropout: before the classifier (the authors' ``--dropout`` default, 0.5).

    Raises:
        FsarError: no weights available, or the file is not a ResNet-50 state dict.
    """
    if random_init and weights is not None:
        raise ValueError("pass either weights or random_init=True, not both")
    net = resnet50(weights=None)
    if not random_init:
        path = Path(weights) if weights is not None else imagenet_weights_path()
        if weights is None and not path.is_file():
            raise FsarError(
                f"no ImageNet ResNet-50 weights: put {path.name} in {path.parent} "
                "or pass weights=PATH to a ResNet-50 state dict"
            )
        _load_backbone(net, path)
    add_residual_shift(net, n_segment, fold_div)
    return TSMResNet50(net, num_classes, n_segment, dropout)


class ShiftBottleneck(nn.Module):
    """Residual block ``relu(x + F(shift(x)))``, ``F`` = 1x1 -> kxk -> 1x1 conv with BN.

    The shift sits before the branch's first convolution; the identity path is unshifted. The
    last BN starts at zero scale, so a fresh block is the identity.

    Args:
        channels: ``C`` in and out.
        hidden: bottleneck width.
        kernel_size: of the middle convolution (1 for pooled features).
        fold_div: see :func:`fsar_bench.analysis.probe.temporal_shift.temporal_shift`.
    """

    def __init__(self, channels: int, hidden: int, kernel_size: int = 3, fold_div: int = 8):
        super().__init__()
        pad = kernel_size // 2
        self.fold_div = fold_div
        self.branch = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, hidden, kernel_size, padding=pad, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        nn.init.zeros_(self.branch[-1].weight)

    def forward(self, x: Tensor, n_segment: int) -> Tensor:
        """``[N * T, C, H, W]`` -> same shape."""
        return torch.relu(x + self.branch(temporal_shift(x, n_segment, self.fold_div)))


class FeatureTSMProbe(nn.Module):
    """Residual-shift blocks and a per-frame linear classifier on cached backbone features.

    Not the full TSM, which fine-tunes ResNet-50 end to end on frames: here the backbone is
    frozen and only the blocks learn temporal mixing (one frame each way per block).

    Args:
        in_channels: ``C`` of the features.
        num_classes: output classes.
        hidden: bottleneck width of each block.
        n_blocks: number of :class:`ShiftBottleneck` blocks.
        spatial: ``True`` for maps ``[N, T, C, H, W]`` (3x3 middle conv), ``False`` for pooled
            features ``[N, T, C]`` (1x1 convs, i.e. per-frame linear layers).
        fold_div: see :func:`fsar_bench.analysis.probe.temporal_shift.temporal_shift`.
        dropout: before the classifier.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden: int = 256,
        n_blocks: int = 2,
        spatial: bool = True,
        fold_div: int = 8,
        dropout: float = 0.5,
    ):
        super().__init__()
        k = 3 if spatial else 1
        self.spatial = spatial
        self.blocks = nn.ModuleList(
            ShiftBottleneck(in_channels, hidden, k, fold_div) for _ in range(n_blocks)
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: Tensor) -> TSMOutput:
        """``[N, T, C, H, W]`` (spatial) or ``[N, T, C]`` (pooled) -> :class:`TSMOutput`."""
        if x.dim() != (5 if self.spatial else 3):
            kind = "[N, T, C, H, W]" if self.spatial else "[N, T, C]"
            raise ValueError(f"expected {kind} features, got shape {tuple(x.shape)}")
        n, t = x.shape[:2]
        h = x.reshape(n * t, x.shape[2], *(x.shape[3:] or (1, 1)))  # [N*T, C, H, W]
        for block in self.blocks:
            h = block(h, t)
        h = self.dropout(h.mean(dim=(2, 3)))  # [N*T, C]
        frame_logits = self.fc(h).view(n, t, -1)  # [N, T, K]
        return TSMOutput(frame_logits, frame_logits.mean(dim=1))
