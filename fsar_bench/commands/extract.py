"""``fsar-bench extract``: cache per-frame backbone features (see ``fsar_bench.features.extract``).

Registered in ``fsar_bench.cli`` as ``app.command("extract")(extract)``. Importing this module
imports neither torch nor numpy.
"""

from __future__ import annotations

import time

import typer

from fsar_bench.commands.common import progress
from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DataOptions
from fsar_bench.options.features import ExtractFeatures, ExtractOptions

SHOW_FAILED = 20


@command
def extract(
    *,
    data: DataOptions,
    features: ExtractFeatures,
    options: ExtractOptions,
    compute: ComputeOptions,
) -> None:
    """Extract backbone features of a dataset's splits into the cache (resumes if interrupted)."""
    from fsar_bench.runtime import init_runtime

    config = options.config(features)
    source = data.source()
    runtime = init_runtime(compute.device)
    start = time.perf_counter()
    with progress(f"extract {source.name}", unit="videos", show=runtime.is_main) as update:
        source.ensure_prepared(progress=update, runtime=runtime)  # a synthetic dataset: made
        stores = source.features(
            config, options.splits, runtime=runtime, workers=compute.workers, progress=update
        )
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
