"""Extracting frame features into the store (:mod:`fsar_bench.features.cache`), resumably.

What is stored per split (``T`` = frames, ``S`` = size, ``V`` = views):

* val/test: one deterministic clip per video, the test-time sampling of
  :func:`fsar_bench.data.sampling.test_indices` (default ``"trx"``); frames resized to shorter side
  ``round(S * 256 / 224)`` (the TRX loader's 224 -> 256, 84 -> 96) and centre-cropped to ``S x S``.
  Per video ``[T, C, h, w]``.
* train: ``V`` views per video (default 4), all drawn from the video's own generator
  ``numpy.random.default_rng([seed, crc32(video_id)])``: per view, frame indices from
  :func:`~fsar_bench.data.sampling.train_indices` (default ``"trx"``), then a random ``S x S`` crop
  of the resized frames and, with ``flip``, a horizontal flip with probability 1/2 (the TRX/TA2N
  training loader's augmentation; off by default here, because a mirror image turns SSv2's
  "pushing something from left to right" and the synthetic "right" primitive into other
  classes, i.e. label noise). Per video ``[V, T, C, h, w]``; a method trained on cached
  features picks one view per video and episode.

Difference from the authors' code: the TRX/TA2N loaders draw new frames, a new crop and a new
flip every time a training video is used, and fine-tune the backbone; here the backbone is frozen
and each training video has ``V`` fixed views, computed once.

Map size ``h = w = ceil(S / 32)``: ``--size 112`` gives 4x4 maps (the EfficientNet-Lite0 default:
TA2N's spatial alignment then costs 16 positions per frame, affordable on a 2-core CPU); 224 gives
the papers' 7x7 (ResNet-50). ``maps=False`` stores pooled ``[T, C]`` vectors only (not for TA2N).

Each split has its own store, keyed by a hash of :func:`fsar_bench.features.cache.split_settings`:
extractor version, dataset, list variant, split and its list's SHA-256, the videos found (id,
path, frame count, file size), the data root's ``config.json`` if any (written by the synthetic
generator), backbone and weight-file SHA-256, frames, size, sampling, views, seed, flip, maps,
dtype and shard size (val/test keys ignore seed and flip). Not keyed: device and
precision (bf16 autocast on GPU vs fp32 on CPU differ at rounding level; a GPU-made cache serves
CPU runs; recorded per shard), batch size and workers. Not detected: frame files rewritten in
place with the same count (delete ``<cache>/features/<dataset>`` after changing data that way).

Resume: videos (in split-list order) are cut into shards of ``shard_videos``; each batch lies in
one shard, so a rerun recomputes exactly the missing shards with the same batches. One process
extracts a store at a time (a lock beside its folder); a second one waits, then finds it
complete.

Test hook: the environment variable ``FSAR_EXTRACT_SHARD_DELAY`` (seconds) sleeps after each shard
is written, so tests can interrupt a run between shards.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from fsar_bench.data.datasets import SPLITS, DatasetInfo
from fsar_bench.data.index import SplitIndex
from fsar_bench.errors import FsarError
from fsar_bench.features.backbones import Weights, load_backbone, resolve_weights
from fsar_bench.features.cache import FeatureStore, store_complete
from fsar_bench.features.estimate import CacheEstimate, estimate_cache
from fsar_bench.features.settings import ExtractConfig, settings_key, split_settings, store_dir
from fsar_bench.features.shards import StoreJob
from fsar_bench.files import owned
from fsar_bench.progress import Progress, note
from fsar_bench.runtime import Runtime, pick_device


def ensure_features(
    info: DatasetInfo,
    root: Path,
    cache: Path,
    index: dict[str, SplitIndex],
    config: ExtractConfig,
    splits: Sequence[str] = SPLITS,
    *,
    variant: str = "",
    runtime: Runtime | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, FeatureStore]:
    """Extract what is missing (resuming interrupted runs) and return one store per split.

    Use :meth:`fsar_bench.source.DataSource.features`, which passes its own values.

    Args:
        info, root, cache: the dataset, its data folder and the cache folder.
        index: the data root's index (the missing-video policy already applied).
        config: extraction settings.
        splits: which splits.
        runtime: the device and, under ``torchrun``, this rank (ranks take disjoint shards;
            the store is the same bytes as a one-process extraction); default: this process
            alone on CUDA when present, else the CPU.
        workers: decoding processes (default: cores - 1, at least 1; 0 decodes in-process).
        progress: ``progress(split, videos done, videos total)``.

    Returns:
        split -> complete :class:`FeatureStore`; videos that could not be read are in its
        ``failed`` (id -> reason) and in ``failed.txt`` next to its shards.
    """
    runtime = runtime or Runtime(device=pick_device())
    weights = resolve_weights(config.backbone, config.weights, config.random_init)
    where = Where(info=info, root=Path(root), cache=Path(cache), variant=variant)
    folders = store_folders(where, index, config, splits, weights)
    todo = [s for s, (_, folder) in folders.items() if not store_complete(folder)]
    if todo:  # the estimate before any work; rank 0 decides for every rank
        estimate = cache_estimate(info.name, index, config, {s: f for s, (_, f) in folders.items()})
        note(progress if runtime.is_main else None, "cache", estimate.text())
        problem = runtime.broadcast(_shortage(estimate) if runtime.is_main else None)
        if problem:
            raise FsarError(problem)
    stores: dict[str, FeatureStore] = {}
    model = None
    workers = _default_workers() if workers is None else workers
    for split, (settings, folder) in folders.items():
        if split in todo and not runtime.on_main(partial(store_complete, folder)):
            # one writer per store; a second process waits, then finds it complete
            with owned(folder, what=f"feature store {folder}", active=runtime.is_main):
                if not runtime.on_main(partial(store_complete, folder)):
                    if model is None:
                        model = load_backbone(config.backbone, weights, runtime.device)
                    job = StoreJob(
                        folder=folder,
                        settings=settings,
                        videos=index[split].videos,
                        root=Path(root),
                        config=config,
                        device=runtime.device,
                    )
                    job.run(model, workers, progress if runtime.is_main else None, runtime)
        stores[split] = FeatureStore(folder)
    return stores


@dataclass(frozen=True, kw_only=True)
class Where:
    """A dataset's data and cache folders (``root``, ``cache``) and its list variant."""

    info: DatasetInfo
    root: Path
    cache: Path
    variant: str = ""


def store_folders(
    where: Where,
    index: dict[str, SplitIndex],
    config: ExtractConfig,
    splits: Sequence[str],
    weights: Weights,
) -> dict[str, tuple[dict, Path]]:
    """Split -> (its store's settings, its store folder)."""
    out = {}
    for split in splits:
        settings = split_settings(
            info=where.info,
            variant=where.variant,
            split=split,
            ix=index[split],
            root=where.root,
            config=config,
            weights=weights,
        )
        out[split] = (settings, store_dir(where.cache, where.info.name, settings_key(settings)))
    return out


def plan_estimate(
    where: Where, index: dict[str, SplitIndex], config: ExtractConfig, splits: Sequence[str]
) -> CacheEstimate:
    """:func:`cache_estimate` of an extraction not started (``extract --dry-run``); without
    the backbone's weight file the stores are taken as not extracted."""
    try:
        weights = resolve_weights(config.backbone, config.weights, config.random_init)
    except FsarError:
        folder = where.cache / "features" / where.info.name
        return cache_estimate(where.info.name, index, config, {s: folder / "?" for s in splits})
    folders = store_folders(where, index, config, splits, weights)
    return cache_estimate(where.info.name, index, config, {s: f for s, (_, f) in folders.items()})


def cache_estimate(
    dataset: str, index: dict[str, SplitIndex], config: ExtractConfig, folders: dict[str, Path]
) -> CacheEstimate:
    """The size of the stores ``folders`` (split -> store folder) of the videos in ``index``;
    complete ones are marked done, shards of interrupted ones count as written."""
    done = {s: store_complete(f) for s, f in folders.items()}
    written = sum(
        p.stat().st_size for s, f in folders.items() if not done[s] for p in f.glob("shard-*")
    )
    return estimate_cache(
        dataset=dataset,
        counts={s: len(index[s].videos) for s in folders},
        config=config,
        folder=next(iter(folders.values())).parent,
        done=done,
        written=written,
    )


def _shortage(estimate: CacheEstimate) -> str | None:
    """The one-line message of a cache that will not fit, else ``None``."""
    try:
        estimate.check_space()
    except FsarError as err:
        return str(err)
    return None


def _default_workers() -> int:
    return min(8, max(1, len(os.sched_getaffinity(0)) - 1))
