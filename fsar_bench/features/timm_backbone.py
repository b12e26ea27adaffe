"""``timm:<model>``: any timm model as a frozen frame backbone, weights from a local file.

``<model>`` is a timm name with an optional pretrained tag (``timm:resnet50.a1_in1k``,
``timm:vit_base_patch16_clip_224.openai``); the registry keeps the canonical ``<arch>.<tag>``
(the default tag filled in) as the backbone's name, so the feature-cache key holds the exact
model beside the weight file's SHA-256. The architecture comes from timm
(``timm.create_model(name, pretrained=False, num_classes=0)``); nothing is downloaded: the
weights are a state dict file given with ``--weights`` (``.pth``/``.pt`` read with
``torch.load(weights_only=True)``, or ``.safetensors``). Classifier weights in the file (the keys
under ``pretrained_cfg["classifier"]``) are ignored; every other key must fit.
``docs/backbones.md`` gives the commands that write such a file on a machine with network.

Feature maps ``[B, C, h, w]`` (``C = model.num_features``):

* CNNs (and hierarchical models): ``forward_features``; NHWC outputs (Swin) are permuted.
  Map side ``ceil(S / r)``, ``r`` the reduction of the last entry of ``model.feature_info``.
* ViTs (``forward_features`` gives tokens ``[B, prefix + h*w, C]``, after the final norm): the
  class and register tokens (``model.num_prefix_tokens``) are dropped and the patch tokens
  reshaped to the patch grid ``h = S / p`` (``p`` the patch size), so spatial methods (TA2N, RVN)
  run on them. ViTs are built with ``dynamic_img_size=True`` where timm allows it (position
  embeddings interpolated to the grid), so any ``--size`` that is a multiple of ``p`` works: at
  112 px CLIP ViT-B/16 gives 7x7 maps, DINOv2 ViT-B/14 8x8.

Normalisation: ``mean``/``std`` of the model's ``pretrained_cfg`` (CLIP: OpenAI's, DINOv2:
ImageNet's). Default ``--size``: ``pretrained_cfg["input_size"]``. Difference from timm's own
eval transform: frames are resized and centre-cropped by the suite (shorter side
``round(S * 256 / 224)``, then ``S x S``, as for every backbone), not by ``crop_pct``/bicubic, so
every backbone sees the same pixels of a clip.

Metadata (``fsar-bench extract`` needs channels, stride and size before building) comes from the
model built on the ``meta`` device: no memory, no weights, about 0.1-0.3 s after timm's import.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fsar_bench.errors import FsarError
from fsar_bench.features import BackboneInfo
from fsar_bench.features.backbones import (
    RANDOM_INIT_SEED,
    FrameEncoder,
    Weights,
    fit_state_dict,
    read_state_dict,
)

PREFIX = "timm:"


def _timm() -> Any:
    try:
        import timm
    except ImportError as err:
        raise FsarError("timm:<model> backbones need the package timm: pip install timm") from err
    return timm


def _create(name: str) -> nn.Module:
    """``timm.create_model`` without a classifier; ViTs with a dynamic image size."""
    timm = _timm()
    try:
        return timm.create_model(name, pretrained=False, num_classes=0, dynamic_img_size=True)
    except TypeError as err:  # not a ViT: no such argument
        if "dynamic_img_size" not in str(err):
            raise
    return timm.create_model(name, pretrained=False, num_classes=0)


def _create_meta(name: str) -> nn.Module:
    """The model without memory (``meta`` device); on CPU if its code needs real tensors."""
    try:
        with torch.device("meta"):
            return _create(name)
    except (RuntimeError, NotImplementedError):  # e.g. .item() on a meta tensor in __init__
        return _create(name)


def _check_name(model: str) -> None:
    """A one-line error with close matches for an unknown architecture or pretrained tag."""
    timm = _timm()
    arch, _, tag = model.partition(".")
    if timm.is_model(arch):
        tags = list(timm.models.get_arch_pretrained_cfgs(arch))  # "<arch>.<tag>"
        if not tag or model in tags:
            return
        what, known = "pretrained tag in timm model", tags
    else:
        what, known = "timm model", timm.list_models()
    close = difflib.get_close_matches(model, known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(PREFIX + c for c in close)}?" if close else ""
    raise FsarError(f"unknown {what} {model!r}.{hint} See timm.list_models()")


def canonical_name(model: nn.Module) -> str:
    """``<arch>.<tag>`` from the model's ``pretrained_cfg`` (``<arch>`` if it has no tag)."""
    cfg = model.pretrained_cfg
    return f"{cfg['architecture']}.{cfg['tag']}" if cfg.get("tag") else cfg["architecture"]


def how_to_get(model: str) -> str:
    """The one-line command that writes ``model``'s weight file on a machine with network."""
    file = model.replace(".", "_") + ".pth"
    return (
        f'python -c "import timm, torch; m = timm.create_model('
        f"'{model}', pretrained=True, num_classes=0); torch.save(m.state_dict(), '{file}')\""
    )


def backbone_info(name: str) -> BackboneInfo:
    """Registry resolver of ``timm:<model>``: metadata of the model built on the meta device."""
    model_name = name[len(PREFIX) :] if name.startswith(PREFIX) else name
    _check_name(model_name)
    try:
        model = _create_meta(model_name)
    except (RuntimeError, ValueError, TypeError, NotImplementedError) as err:
        first = (str(err).strip().splitlines() or [""])[0]
        raise FsarError(f"timm cannot build {model_name!r}: {first}") from err
    canonical = canonical_name(model)
    grid = "patch tokens on the patch grid" if _is_vit(model) else "forward_features map"
    return BackboneInfo(
        name=PREFIX + canonical,
        title=f"timm {canonical}, frozen; {grid}",
        factory="fsar_bench.features.timm_backbone:timm_backbone",
        factory_args=(canonical,),
        channels=int(model.num_features),
        stride=_stride(model),
        default_size=int(model.pretrained_cfg["input_size"][-1]),
        weights=f"a state dict file, written on a machine with network by: {how_to_get(canonical)}",
    )


def _is_vit(model: nn.Module) -> bool:
    return hasattr(model, "num_prefix_tokens") and hasattr(model, "patch_embed")


def _stride(model: nn.Module) -> int:
    """Reduction of the last feature stage (the patch size for a ViT)."""
    info = getattr(model, "feature_info", None)
    if info:
        return int(info[-1]["reduction"])
    if _is_vit(model):
        return int(model.patch_embed.patch_size[0])
    raise FsarError(f"timm model {canonical_name(model)} declares no feature reduction")


class TimmMaps(nn.Module):
    """A timm model's ``forward_features`` as maps: normalised ``[B, 3, H, W]`` -> ``[B, C, h, w]``.

    ViT tokens ``[B, prefix + h*w, C]`` lose their ``prefix`` class/register tokens and are
    reshaped to the patch grid ``h, w = H / p, W / p``; NHWC maps are permuted to NCHW.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.name = PREFIX + canonical_name(model)
        self.vit = _is_vit(model)
        self.prefix = int(getattr(model, "num_prefix_tokens", 0))
        self.nhwc = getattr(model, "output_fmt", "NCHW") == "NHWC"
        if self.vit:
            embed = model.patch_embed
            self.patch = tuple(int(p) for p in embed.patch_size)
            dynamic = getattr(model, "dynamic_img_size", False)
            strict = getattr(embed, "strict_img_size", False) and not dynamic
            self.fixed = tuple(int(s) for s in embed.img_size) if strict else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grid = self._grid(*x.shape[-2:]) if self.vit else None
        y = self.model.forward_features(x)
        if y.ndim == 4:
            return y.permute(0, 3, 1, 2) if self.nhwc else y  # [B, C, h, w]
        if grid is None:
            raise FsarError(f"{self.name} gives tokens without a patch grid: not supported")
        tokens = y[:, self.prefix :]  # [B, h*w, C]
        return tokens.transpose(1, 2).reshape(len(x), -1, *grid)  # [B, C, h, w]

    def _grid(self, height: int, width: int) -> tuple[int, int]:
        (ph, pw), size = self.patch, (height, width)
        if self.fixed and size != self.fixed:
            raise FsarError(
                f"{self.name} takes {self.fixed[0]} px only: pass --size {self.fixed[0]}"
            )
        if height % ph or width % pw:
            fits = f"{height // ph * ph} or {(height // ph + 1) * ph}"
            raise FsarError(f"{self.name}: --size must be a multiple of its patch {ph} ({fits})")
        return height // ph, width // pw


def _load(model: nn.Module, path: Path) -> None:
    """Load a state dict file into ``model``, ignoring classifier keys the model lacks."""
    state = read_state_dict(path)
    heads = model.pretrained_cfg.get("classifier") or ()
    heads = (heads,) if isinstance(heads, str) else tuple(heads)
    own = set(model.state_dict())
    state = {
        k: v for k, v in state.items() if k in own or not any(k.startswith(h + ".") for h in heads)
    }
    fit_state_dict(model, state, path)


def timm_backbone(weights: Weights, model_name: str) -> FrameEncoder:
    """Factory of ``timm:<model>``: the timm model with ``weights`` (``None`` path: seeded
    random init), normalised with its ``pretrained_cfg`` mean and std."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = _create(model_name)
    if weights.path is not None:
        _load(model, weights.path)
    cfg = model.pretrained_cfg
    return FrameEncoder(TimmMaps(model), tuple(cfg["mean"]), tuple(cfg["std"]), model.num_features)
