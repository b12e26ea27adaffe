"""What a feature store holds and how it is keyed: extraction settings and the store key.

:class:`ExtractConfig` is what the user chooses (backbone, frames, size, sampling, views...);
:func:`split_settings` is everything that changes the stored numbers of one split (data, lists,
backbone and weights, sampling, sizes, code version), and :func:`settings_key` its hash, the
store's folder name under ``<cache>/features/<dataset>/``. See :mod:`fsar_bench.features.extract`
for what is stored and :mod:`fsar_bench.features.cache` for the store itself.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.data.datasets import DatasetInfo
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.sampling import TEST_MODES, TRAIN_MODES
from fsar_bench.errors import require
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import Weights, resize_side

EXTRACTOR_VERSION = 1  # bump when extraction code changes the stored numbers


MAX_SIZE = 1024  # input side in pixels; --size 20000 would allocate gigabytes per frame


@dataclass(frozen=True, kw_only=True)
class ExtractConfig:
    """Extraction settings (see the module docstring); ``size=None``: the backbone's default;
    ``map_size``: maps average-pooled to ``map_size x map_size`` before they are stored (less
    disk; ``None`` or a side at least the backbone's: its own maps)."""

    backbone: str = "efficientnet-lite0"
    frames: int = 8
    size: int | None = None
    sampling: str = "trx"
    train_sampling: str = "trx"
    views: int = 4
    seed: int = 0
    flip: bool = False
    maps: bool = True
    map_size: int | None = None
    weights: str | None = None
    random_init: bool = False
    shard_videos: int = 64
    batch_frames: int = 64

    def __post_init__(self) -> None:
        checks = (
            (self.frames >= 1 and self.views >= 1, "frames and views must be >= 1"),
            (self.size is None or 32 <= self.size <= MAX_SIZE, f"size must be 32-{MAX_SIZE} px"),
            (self.sampling in TEST_MODES, f"sampling must be one of {', '.join(TEST_MODES)}"),
            (self.train_sampling in TRAIN_MODES, f"train sampling: {'/'.join(TRAIN_MODES)}"),
            (min(self.shard_videos, self.batch_frames) >= 1, "shard and batch sizes must be >= 1"),
            (self.map_size is None or self.map_size >= 1, "map size must be >= 1"),
        )
        require(checks, "extraction settings")
        BACKBONES.get(self.backbone)  # unknown name: fails with close matches


def split_settings(
    info: DatasetInfo,
    variant: str,
    split: str,
    ix: SplitIndex,
    root: Path,
    config: ExtractConfig,
    weights: Weights,
) -> dict:
    """Everything that changes the stored numbers of one split (hashed into the store key)."""
    train = split == "train"
    backbone = BACKBONES.get(config.backbone)
    size = config.size or backbone.default_size
    return {
        "extractor": EXTRACTOR_VERSION,
        "dataset": info.name,
        "variant": variant,
        "split": split,
        "split_sha256": ix.split.sha256,
        "videos_sha256": _data_digest(root, ix.videos),
        "backbone": backbone.name,
        "weights_sha256": weights.sha256,
        "frames": config.frames,
        "size": size,
        "resize": resize_side(size),
        "sampling": config.train_sampling if train else config.sampling,
        "views": config.views if train else 0,
        "seed": config.seed if train else None,
        "flip": config.flip if train else False,
        "maps": config.maps,
        "dtype": "float16",
        "shard_videos": config.shard_videos,
    } | _map_size(config, size)


def map_side(config: ExtractConfig, size: int | None = None) -> int:
    """Side of the stored maps: the backbone's ``ceil(size / stride)``, or ``map_size`` when
    smaller; 0 for pooled-only stores."""
    backbone = BACKBONES.get(config.backbone)
    native = math.ceil((size or config.size or backbone.default_size) / backbone.stride)
    return min(native, config.map_size or native) if config.maps else 0


def _map_size(config: ExtractConfig, size: int) -> dict:
    """``{"map_size": k}`` when the maps are pooled smaller (absent otherwise, so the keys of
    stores without pooling did not change)."""
    native = math.ceil(size / BACKBONES.get(config.backbone).stride)
    side = map_side(config, size)
    return {"map_size": side} if config.maps and side < native else {}


def _data_digest(root: Path, videos: list[Video]) -> str:
    """Hash of the videos found (id, path, frames, file size) and of ``root/config.json``."""
    digest = hashlib.sha256()
    for v in videos:
        path = root / v.path
        digest.update(
            repr((v.video_id, v.path, v.n_frames, path.is_file() and path.stat().st_size)).encode()
        )
    if (root / "config.json").is_file():
        digest.update((root / "config.json").read_bytes())
    return digest.hexdigest()


def settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:24]


def store_dir(cache: Path, dataset: str, key: str) -> Path:
    """Folder of the store with ``key``."""
    return Path(cache) / "features" / dataset / key
