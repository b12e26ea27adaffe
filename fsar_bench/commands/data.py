"""``fsar-bench ls``, ``prepare`` and ``episodes``: registries, data and episode manifests.

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.commands.common import (
    CacheDir,
    DataRoot,
    DatasetOpt,
    Missing,
    Variant,
    data_source,
    progress,
)
from fsar_bench.errors import FsarError


def ls(
    what: str = typer.Argument(..., help="datasets | methods | backbones | protocols"),
) -> None:
    """List registered datasets, methods, backbones or protocols."""
    from fsar_bench.report.text import listing

    typer.echo(listing(what))


def prepare(
    dataset: str = DatasetOpt,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
    seed: int = typer.Option(0, min=0, help="Seed of a synthetic dataset."),
) -> None:
    """Generate (synthetic) or index (real) a dataset and report found and missing videos."""
    from fsar_bench.report.text import prepare_table

    source = data_source(dataset, data_root, cache_dir, variant, missing)
    with progress(source.name) as update:
        reports = source.prepare(seed=seed, progress=update)
    typer.echo(prepare_table(source.dataset, source.root, reports))
    source.check_missing(reports)


def episodes(
    dataset: str = DatasetOpt,
    split: str = typer.Option("test", help="train | val | test"),
    way: int = typer.Option(5),
    shot: int = typer.Option(1),
    query: int | None = typer.Option(None, help="Queries per class [protocol's, else 1]."),
    n_episodes: int | None = typer.Option(
        None, "--episodes", help="Episodes [protocol's, else 10000]."
    ),
    protocol: str | None = typer.Option(
        None, help="Protocol (fsar-bench ls protocols): sets --episodes and --query."
    ),
    seed: int = typer.Option(0, min=0),
    frames: int = typer.Option(8, help="Frames per video."),
    sampling: str = typer.Option("trx", help="Test-time frame sampling: trx | centre."),
    out: Path = typer.Option(..., "--out", help="Manifest file to write."),
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """Draw seeded episodes and write them as a manifest; prints its SHA-256."""
    from fsar_bench.data.datasets import SPLITS
    from fsar_bench.data.sampling import TEST_MODES
    from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest, write_manifest

    if split not in SPLITS:
        raise FsarError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if sampling not in TEST_MODES:
        raise FsarError(f"unknown sampling {sampling!r}; choose from {', '.join(TEST_MODES)}")
    if protocol is not None:
        from fsar_bench.episodes.protocols import PROTOCOLS

        proto = PROTOCOLS.get(protocol)
        n_episodes = proto.total_episodes if n_episodes is None else n_episodes
        query = proto.query if query is None else query
    source = data_source(dataset, data_root, cache_dir, variant, missing)
    spec = EpisodeSpec(
        dataset=source.name,
        split=split,
        way=way,
        shot=shot,
        query=1 if query is None else query,
        episodes=10_000 if n_episodes is None else n_episodes,
        seed=seed,
        frames=frames,
        sampling=sampling,
        variant=variant,
    )
    digest = write_manifest(build_manifest(source.index((split,))[split], spec), out)
    typer.echo(f"{digest}  {out}")
