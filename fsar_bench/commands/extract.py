"""``fsar-bench extract``: cache per-frame backbone features (see ``fsar_bench.features.extract``).

Registered in ``fsar_bench.cli`` as ``app.command("extract")(extract)``. Importing this module
imports neither torch nor numpy.
"""

from __future__ import annotations

import time

from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DataOptions, OutputOptions
from fsar_bench.options.features import ExtractFeatures, ExtractOptions
from fsar_bench.presentation.reporter import progress

SHOW_FAILED = 20


@command
def extract(
    *,
    data: DataOptions,
    features: ExtractFeatures,
    options: ExtractOptions,
    compute: ComputeOptions,
    output: OutputOptions,
) -> None:
    """Extract backbone features of a dataset's splits into the cache (resumes if interrupted).

    The cache's size is estimated first (from the split sizes, frames, views, backbone channels,
    map size and float16) and printed; when its file system lacks the space the command stops
    with the figure and the choices. ``--dry-run`` prints the estimate and extracts nothing."""
    config = options.config(features)
    source = data.source()
    if options.dry_run:
        _dry_run(source, config, options.splits, output)
        return
    from fsar_bench.runtime import init_runtime

    runtime = init_runtime(compute.device)
    start = time.perf_counter()
    name = f"extract {source.name}"
    with progress(name, unit="videos", show=runtime.is_main, output=output) as report:
        source.ensure_prepared(progress=report, runtime=runtime)  # a synthetic dataset: made
        stores = source.features(
            config, options.splits, runtime=runtime, workers=compute.workers, progress=report
        )
    if runtime.is_main:
        report.final(_summary(stores, time.perf_counter() - start))


def _dry_run(source, config, splits, output: OutputOptions) -> None:
    """The estimate, the free space and whether it fits (one line each)."""
    from fsar_bench.errors import FsarError
    from fsar_bench.features.estimate import disk_free, gb

    estimate = source.estimate(config, splits)
    free = disk_free(estimate.folder)
    try:
        estimate.check_space(free)
        verdict = "fits"
    except FsarError:
        verdict = "does not fit; choose " + ", or ".join(estimate.choices())
    lines = [
        f"estimate: {estimate.text()}",
        f"to write: {gb(estimate.needed)}; free: {gb(free)} at {estimate.folder}: {verdict}",
    ]
    with progress(f"extract {source.name}", output=output) as report:
        report.final("\n".join(lines))


def _summary(stores: dict, seconds: float) -> str:
    """Per split: videos, failures (listed, and where the full list is), shape and folder."""
    from fsar_bench.presentation.text import table

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
