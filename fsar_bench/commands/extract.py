"""``fsar-bench extract``: cache per-frame backbone features (see ``fsar_bench.features.extract``).

Registered in ``fsar_bench.cli`` as ``app.command("extract")(extract)``. Importing this module
imports neither torch nor numpy.
"""

from __future__ import annotations

import ctypes
import os
import time
from contextlib import contextmanager
from pathlib import Path

import typer

from fsar_bench.errors import FsarError

SHOW_FAILED = 20


def extract(
    dataset: str = typer.Option("synthetic", "--dataset", "-d"),
    backbone: str | None = typer.Option(
        None,
        "--backbone",
        "-b",
        help="See 'ls backbones'. Default: resnet50 on a GPU with its weights in the torch "
        "cache, else efficientnet-lite0.",
    ),
    frames: int = typer.Option(8, help="Frames per video (T)."),
    size: int | None = typer.Option(
        None,
        help="Input side in pixels (default: the backbone's). Maps are ceil(size/32) square: "
        "112 -> 4x4 (efficientnet-lite0 default, affordable for TA2N on a CPU), 224 -> 7x7.",
    ),
    splits: str = typer.Option("train,val,test", help="Comma-separated splits."),
    views: int = typer.Option(4, help="Sampled views per training video."),
    sampling: str = typer.Option("trx", help="Test-time sampling for val/test: trx | centre."),
    train_sampling: str = typer.Option("trx", help="Training-view sampling: trx | tsn."),
    seed: int = typer.Option(0, help="Seed of the training views."),
    flip: bool = typer.Option(
        False, "--flip/--no-flip", help="Random flips in training views (TRX/TA2N: on)."
    ),
    pooled_only: bool = typer.Option(
        False, "--pooled-only", help="Store pooled [T, C] vectors, not maps (not for TA2N)."
    ),
    weights: Path | None = typer.Option(None, "--weights", help="Backbone weight file."),
    random_init: bool = typer.Option(False, "--random-init", help="Random weights (tests only)."),
    device: str | None = typer.Option(None, help="cpu | cuda (default: CUDA when present)."),
    workers: int | None = typer.Option(None, help="Decoding processes (default: cores - 1)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="The dataset's folder."),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="Cache folder."),
    missing: str = typer.Option("error", help="Listed videos not found: error | skip."),
    variant: str = typer.Option("", "--variant", help="Published list variant (e.g. ta2n)."),
) -> None:
    """Extract backbone features of a dataset's splits into the cache (resumes if interrupted)."""
    tune_cpu()
    from fsar_bench import paths
    from fsar_bench.data.datasets import SPLITS, resolve_dataset
    from fsar_bench.features.backbones import default_backbone
    from fsar_bench.features.extract import ExtractConfig, ensure_features

    chosen = tuple(s.strip() for s in splits.split(",") if s.strip())
    bad = [s for s in chosen if s not in SPLITS]
    if bad or not chosen:
        raise FsarError(f"unknown split(s) {', '.join(bad) or splits!r}; choose from {SPLITS}")
    config = ExtractConfig(
        backbone=backbone or default_backbone(), frames=frames, size=size, sampling=sampling,
        train_sampling=train_sampling, views=views, seed=seed, flip=flip, maps=not pooled_only,
        weights=str(weights) if weights else None, random_init=random_init,
    )  # fmt: skip
    info = resolve_dataset(dataset)
    cache = paths.cache_dir(cache_dir)
    root = paths.data_root(info, data_root, cache)
    start = time.perf_counter()
    with _progress(f"extract {info.name}") as update:
        stores = ensure_features(
            info, root, cache, config, chosen, variant=variant, missing=missing,
            device=device, workers=workers, progress=update,
        )  # fmt: skip
    typer.echo(_summary(stores, time.perf_counter() - start))


def tune_cpu() -> None:
    """Process settings for CPU inference on a shared machine; effective before torch is imported.

    * ``OMP_WAIT_POLICY=PASSIVE`` (unless set): idle OpenMP threads sleep instead of spinning.
    * glibc ``mallopt``: freed activation buffers stay in the heap (mmap and trim thresholds
      1 GiB) instead of going back to the OS, which removed ~1.3 million page faults per 512
      frames of EfficientNet-Lite0 at 112 px.

    Measured on the project's 2-core machine while other processes used about 1.5 cores: forward
    rate 26 -> 150 frames/s (``benchmarks/bench_extract.py`` applies the same settings).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


@contextmanager
def _progress(description: str):
    """A rich progress bar with rate and ETA; yields ``update(split, done, total)``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} videos/s" if task.speed else "-- videos/s")

    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), Rate())
    cols += (TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(split: str, done: int, total: int) -> None:
            if split not in tasks:
                tasks[split] = bar.add_task(f"{description} {split}", total=total, completed=done)
            bar.update(tasks[split], completed=done, total=total)

        yield update


def _summary(stores: dict, seconds: float) -> str:
    """Per split: videos, failures (listed, and where the full list is), shape and folder."""
    from fsar_bench.listing import table

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
