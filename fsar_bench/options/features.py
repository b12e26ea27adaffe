"""Option groups of the features: the frozen backbone, its input and how a split is extracted.

:class:`FeatureOptions` (``run``, ``profile``, ``sweep``, the analyses) names the backbone and
its input; ``extract`` takes :class:`ExtractFeatures` (the default backbone depends on the
machine) and :class:`ExtractOptions` (splits, views, sampling), which
:meth:`ExtractOptions.config` turns into the :class:`~fsar_bench.features.settings.ExtractConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import SEED_MAX, csv_items, opt, set_field

if TYPE_CHECKING:
    from fsar_bench.features.settings import ExtractConfig

SPLITS = ("train", "val", "test")  # fsar_bench.data.datasets.SPLITS (not imported: --help)


@dataclass(frozen=True, kw_only=True)
class FeatureOptions:
    """The frozen backbone and its input."""

    backbone: str = opt(
        "efficientnet-lite0", "--backbone", "-b", help="Frozen feature backbone (ls backbones)."
    )
    size: int | None = opt(
        None,
        "--size",
        help="Input side in pixels, 32-1024 (default: the backbone's).",
        minimum=32,
        maximum=1024,
    )
    frames: int = opt(8, "--frames", help="Frames per video (T).", minimum=1)
    weights: Path | None = opt(None, "--weights", help="Backbone weight file.")
    map_size: int | None = opt(
        None,
        "--map-size",
        help="Pool the stored maps to K x K (less disk; default: the backbone's map).",
        minimum=1,
    )


@dataclass(frozen=True, kw_only=True)
class ExtractFeatures(FeatureOptions):
    """:class:`FeatureOptions` of ``extract``: without ``--backbone``, the machine's default."""

    backbone: str | None = opt(
        None,
        "--backbone",
        "-b",
        help="See 'ls backbones'. Default: resnet50 on a GPU with its weights in the torch "
        "cache, else efficientnet-lite0.",
    )


@dataclass(frozen=True, kw_only=True)
class ExtractOptions:
    """Which splits are extracted, and how their clips are sampled."""

    splits: Any = opt("train,val,test", "--splits", help="Comma-separated splits.", cli_type=str)
    views: int = opt(4, "--views", help="Sampled views per training video.", minimum=1)
    sampling: str = opt("trx", "--sampling", help="Test-time sampling for val/test: trx | centre.")
    train_sampling: str = opt("trx", "--train-sampling", help="Training-view sampling: trx | tsn.")
    seed: int = opt(0, "--seed", help="Seed of the training views.", minimum=0, maximum=SEED_MAX)
    flip: bool = opt(
        False, "--flip/--no-flip", help="Random flips in training views (TRX/TA2N: on)."
    )
    pooled_only: bool = opt(
        False, "--pooled-only", help="Store pooled [T, C] vectors, not maps (not for TA2N)."
    )
    random_init: bool = opt(False, "--random-init", help="Random backbone weights (tests only).")
    dry_run: bool = opt(
        False,
        "--dry-run",
        help="Print the cache size estimate and the free space; extract nothing.",
    )

    def __post_init__(self) -> None:
        chosen = csv_items(self.splits)
        bad = [s for s in chosen if s not in SPLITS]
        if bad or not chosen:
            raise FsarError(
                f"unknown split(s) {', '.join(bad) or repr(self.splits)}; choose from {SPLITS}"
            )
        set_field(self, "splits", chosen)

    def config(self, features: FeatureOptions) -> ExtractConfig:
        """The extraction settings (the machine's default backbone when none is named)."""
        from fsar_bench.features.backbones import default_backbone
        from fsar_bench.features.settings import ExtractConfig

        return ExtractConfig(
            backbone=features.backbone or default_backbone(),
            frames=features.frames,
            size=features.size,
            sampling=self.sampling,
            train_sampling=self.train_sampling,
            views=self.views,
            seed=self.seed,
            flip=self.flip,
            maps=not self.pooled_only,
            map_size=features.map_size,
            weights=str(features.weights) if features.weights else None,
            random_init=self.random_init,
        )
