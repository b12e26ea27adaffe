"""Benchmark: ``fsar-bench extract`` throughput against the backbone's own forward rate.

On the synthetic dataset at its default size (preset ``mid``: 128 px frames, 20 videos per class,
so 480 test videos; ``--videos-per-class`` shortens generation) with the default extraction
settings (EfficientNet-Lite0, 112 px, 8 frames), for the test split (one deterministic clip per
video), in one process:

1. forward: the clips are decoded and preprocessed into memory first, then only
   :func:`fsar_bench.features.shards.encode` runs, on the same batches as the extraction
   (``batch_frames`` frames).
2. extract: :meth:`DataSource.features` into an empty cache folder (index, weights, decoding in
   DataLoader workers, forward, fp16 shards, ``meta.json``), timed end to end.

The two alternate (forward, extract, forward, ... ``--rounds`` extractions), because other
processes on a shared machine change the rate between runs; each extraction is compared with the
mean of the forward runs just before and after it.

Target: extract >= 80% of the forward rate (decoding and I/O hidden). Also reported: peak RSS
of this process and of its worker processes, and the cache size per video. Both measurements run
with the process settings of ``fsar-bench extract`` (:func:`fsar_bench.cpu.tune_cpu`;
``--no-tune`` leaves the defaults).

Usage: ``python benchmarks/bench_extract.py [--data-root DIR] [--videos-per-class 20] [--no-tune]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fsar_bench.cpu import tune_cpu

if "--no-tune" not in sys.argv:
    tune_cpu()  # before torch is imported

import torch  # noqa: E402

from fsar_bench.features.backbones import load_backbone, resolve_weights  # noqa: E402
from fsar_bench.features.settings import ExtractConfig  # noqa: E402
from fsar_bench.features.shards import encode  # noqa: E402
from fsar_bench.features.views import load_views, plan_views  # noqa: E402
from fsar_bench.runtime import Runtime, pick_device  # noqa: E402
from fsar_bench.source import DataSource  # noqa: E402


def make_data(root: Path, videos_per_class: int) -> None:
    from fsar_bench.data.synthetic import generate, preset

    if not (root / "COMPLETE").is_file():
        generate(root, preset("mid", videos_per_class=videos_per_class))


def forward_rate(model, batches: list[torch.Tensor], device: torch.device) -> float:
    """Frames per second of the backbone alone on in-memory uint8 batches."""
    encode(model, batches[0], device)  # warm-up
    start = time.perf_counter()
    for x in batches:
        encode(model, x, device)
    return sum(len(x) for x in batches) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="a generated synthetic dataset to reuse")
    parser.add_argument("--videos-per-class", type=int, default=20)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-tune", action="store_true", help="default OpenMP and malloc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-extract-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Measure and print (see the module docstring); ``tmp`` holds caches and generated data."""
    root = args.data_root or tmp / "data"
    make_data(root, args.videos_per_class)
    config = ExtractConfig()
    device = pick_device()
    index_source = DataSource.resolve("synthetic-mid", data_root=root, cache_dir=tmp / "index")
    videos = index_source.index(("test",))["test"].videos
    weights = resolve_weights(config.backbone)
    model = load_backbone(config.backbone, weights, device)
    size = 112
    clips = [load_views(root / v.path, *plan_views(v, config, False), size) for v in videos]
    per_batch = config.batch_frames // config.frames
    batches = [torch.cat(clips[i : i + per_batch]) for i in range(0, len(clips), per_batch)]
    n_frames = sum(len(x) for x in batches)

    forwards = [forward_rate(model, batches, device)]
    extracts = []
    for r in range(args.rounds):
        start = time.perf_counter()
        source = DataSource.resolve("synthetic-mid", data_root=root, cache_dir=tmp / f"cache{r}")
        stores = source.features(
            config, ("test",), runtime=Runtime(device=device), workers=args.workers
        )
        extracts.append(n_frames / (time.perf_counter() - start))
        forwards.append(forward_rate(model, batches, device))
    ratios = [e / ((f0 + f1) / 2) for e, f0, f1 in zip(extracts, forwards, forwards[1:])]
    store = stores["test"]
    per_video = sum(f.stat().st_size for f in store.folder.glob("*.safetensors")) / len(store)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss_workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, {len(videos)} videos, "
        f"{n_frames} frames, batch {config.batch_frames} frames, size {size}"
    )
    print(f"forward only : {' '.join(f'{f:.1f}' for f in forwards)} frames/s")
    print(f"extract      : {' '.join(f'{e:.1f}' for e in extracts)} frames/s")
    median = statistics.median(ratios)
    print(
        f"extract / forward (neighbours): {' '.join(f'{q:.0%}' for q in ratios)}, "
        f"median {median:.0%}; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"peak RSS     : {rss:.0f} MiB (main), {rss_workers:.0f} MiB (largest worker)")
    shape = " x ".join(map(str, (store.meta.frames, store.meta.channels, *store.meta.map_size)))
    print(f"cache        : {per_video / 1024:.1f} KiB per video ({shape} fp16)")


if __name__ == "__main__":
    main()
