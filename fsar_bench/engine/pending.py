"""The feature stores a run would read, without extracting any (the plan of ``run --dry-run``).

:func:`stores_or_pending` keys every split's store exactly as extraction does
(:func:`~fsar_bench.features.settings.split_settings`); a complete store is opened, a missing
one is a :class:`PendingStore`: its key and metadata (what a run config records) and the clips
that extracting it would compute (what the estimate prices). A pending store holds every
listed video (extraction has not failed any yet). :func:`extract_timed` extracts as a run does
and records the seconds per frame it took in ``<cache>/costs.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from fsar_bench.data.index import SplitIndex
from fsar_bench.engine.costs import extract_key, record_extract
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import resolve_weights
from fsar_bench.features.cache import FeatureStore, StoreMeta, store_complete
from fsar_bench.features.extract import Where, store_folders
from fsar_bench.features.settings import ExtractConfig, settings_key
from fsar_bench.progress import Progress
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource


@dataclass(frozen=True, kw_only=True)
class PendingStore:
    """A feature store that is not extracted yet.

    Attributes:
        meta: its key and settings, as the store will record them.
        videos: videos to extract. clips: clips per video (the training views, else 1).
    """

    meta: StoreMeta
    videos: int
    clips: int

    def __contains__(self, video_id: str) -> bool:
        return True

    @property
    def frames(self) -> int:
        """Frames the backbone will read: ``videos * clips * T``."""
        return self.videos * self.clips * self.meta.frames


def _pending(settings: dict, config: ExtractConfig, index: SplitIndex) -> PendingStore:
    backbone = BACKBONES.get(config.backbone)
    side = -(-settings["size"] // backbone.stride)
    meta = StoreMeta(
        key=settings_key(settings),
        settings=settings,
        channels=backbone.channels,
        map_size=(side, side) if config.maps else (0, 0),
    )
    return PendingStore(meta=meta, videos=len(index.videos), clips=settings["views"] or 1)


def stores_or_pending(
    source: DataSource, config: ExtractConfig, splits: Sequence[str]
) -> dict[str, FeatureStore | PendingStore]:
    """Every split's complete store, or its :class:`PendingStore` (nothing is extracted)."""
    index = source.index(splits)
    weights = resolve_weights(config.backbone, config.weights, config.random_init)
    where = Where(info=source.dataset, root=source.root, cache=source.cache, variant=source.variant)
    out: dict[str, FeatureStore | PendingStore] = {}
    for split, (settings, folder) in store_folders(where, index, config, splits, weights).items():
        found = store_complete(folder)
        out[split] = FeatureStore(folder) if found else _pending(settings, config, index[split])
    return out


def extract_timed(
    source: DataSource,
    config: ExtractConfig,
    splits: Sequence[str],
    *,
    runtime: Runtime,
    workers: int | None,
    progress: Progress | None,
) -> dict[str, FeatureStore]:
    """:meth:`DataSource.features`, recording what the missing stores cost per frame (rank 0;
    a resumed extraction counts all of a store's frames, so it records too low a cost)."""
    missing = stores_or_pending(source, config, splits)
    frames = sum(p.frames for p in missing.values() if isinstance(p, PendingStore))
    t0 = time.monotonic()
    stores = source.features(config, splits, runtime=runtime, workers=workers, progress=progress)
    if frames and runtime.is_main:
        size = next(iter(stores.values())).meta.size
        key = extract_key(
            backbone=config.backbone,
            size=size,
            device=str(runtime.device),
            threads=torch.get_num_threads(),
        )
        per_frame = (time.monotonic() - t0) / frames
        record_extract(source.cache, key, seconds_per_frame=per_frame, frames=frames)
    return stores
