"""``fsar-bench extract``: cache per-frame backbone features (see ``fsar_bench.features.extract``).

Registered in ``fsar_bench.cli`` as ``app.command("extract")(extract)``. Importing this module
imports neither torch nor numpy.
"""

from __future__ import annotations

import time
from pathlib import Path

import typer

from fsar_bench.commands.common import (
    CacheDir,
    DataRoot,
    DatasetOpt,
    Device,
    Frames,
    Missing,
    RandomInit,
    Variant,
    Weights,
    Workers,
    data_source,
    progress,
)
from fsar_bench.errors import FsarError

SHOW_FAILED = 20


BackboneOpt = typer.Option(
    None,
    "--backbone",
    "-b",
    help="See 'ls backbones'. Default: resnet50 "
    "on a GPU with its weights in the torch cache, else efficientnet-lite0.",
)
ExtractSize = typer.Option(
    None,
    "--size",
    help="Input side in pixels (default: the backbone's). "
    "Maps are ceil(size/32) square: 112 -> 4x4 (efficientnet-lite0 "
    "default, affordable for TA2N on a CPU), 224 -> 7x7.",
)
Splits = typer.Option("train,val,test", "--splits", help="Comma-separated splits.")
Views = typer.Option(4, "--views", help="Sampled views per training video.")
Sampling = typer.Option("trx", "--sampling", help="Test-time sampling for val/test: trx | centre.")
TrainSampling = typer.Option("trx", "--train-sampling", help="Training-view sampling: trx | tsn.")
Flip = typer.Option(
    False, "--flip/--no-flip", help="Random flips in training views (TRX/TA2N: on)."
)
PooledOnly = typer.Option(
    False, "--pooled-only", help="Store pooled [T, C] vectors, not maps (not for TA2N)."
)


def extract(
    dataset: str = DatasetOpt,
    backbone: str | None = BackboneOpt,
    frames: int = Frames,
    size: int | None = ExtractSize,
    splits: str = Splits,
    views: int = Views,
    sampling: str = Sampling,
    train_sampling: str = TrainSampling,
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the training views."),
    flip: bool = Flip,
    pooled_only: bool = PooledOnly,
    weights: Path | None = Weights,
    random_init: bool = RandomInit,
    device: str | None = Device,
    workers: int | None = Workers,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """Extract backbone features of a dataset's splits into the cache (resumes if interrupted)."""
    from fsar_bench.data.datasets import SPLITS
    from fsar_bench.features.backbones import default_backbone
    from fsar_bench.features.settings import ExtractConfig
    from fsar_bench.runtime import init_runtime

    chosen = tuple(s.strip() for s in splits.split(",") if s.strip())
    bad = [s for s in chosen if s not in SPLITS]
    if bad or not chosen:
        raise FsarError(f"unknown split(s) {', '.join(bad) or splits!r}; choose from {SPLITS}")
    config = ExtractConfig(
        backbone=backbone or default_backbone(),
        frames=frames,
        size=size,
        sampling=sampling,
        train_sampling=train_sampling,
        views=views,
        seed=seed,
        flip=flip,
        maps=not pooled_only,
        weights=str(weights) if weights else None,
        random_init=random_init,
    )
    source = data_source(dataset, data_root, cache_dir, variant, missing)
    runtime = init_runtime(device)
    start = time.perf_counter()
    with progress(f"extract {source.name}", unit="videos", show=runtime.is_main) as update:
        stores = source.features(config, chosen, runtime=runtime, workers=workers, progress=update)
    if not runtime.is_main:
        return
    typer.echo(_summary(stores, time.perf_counter() - start))


def _summary(stores: dict, seconds: float) -> str:
    """Per split: videos, failures (listed, and where the full list is), shape and folder."""
    from fsar_bench.report.text import table

    rows, lines = [], []
    m = next(iter(stores.values())).meta
    title = f"{m.dataset}: {m.backbone} at {m.size} px, {m.frames} frames per clip"
    for split, store in stores.items():
        m = store.meta
        shape = [m.views] if m.views else []
        shape += [m.frames, m.channels, *m.map_size] if m.maps else [m.frames, m.channels]
        size = sum(f.stat().st_size for f in store.folder.glob("*.safetensors"))
        mib = f"{size / 2**20:.1f}"
        rows.append((split, len(store), len(store.failed), shape, mib, store.folder))
        for vid, why in list(store.failed.items())[:SHOW_FAILED]:
            lines.append(f"  {split} {vid}: {why}")
        if store.failed:
            lines.append(f"  all {len(store.failed)} in {store.folder / 'failed.txt'}")
    head = ("split", "videos", "failed", "per video", "MiB", "folder")
    out = [title, table(head, rows), f"done in {seconds:.1f} s"]
    if lines:
        out.append("videos that could not be read (no features):\n" + "\n".join(lines))
    return "\n".join(out)
