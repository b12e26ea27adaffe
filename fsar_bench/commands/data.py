"""``fsar-bench ls``, ``prepare`` and ``episodes``: registries, data and episode manifests.

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

import typer

from fsar_bench.commands.options import command
from fsar_bench.options.common import DataOptions, OutputOptions
from fsar_bench.options.episodes import ManifestOptions
from fsar_bench.options.listing import ListOptions
from fsar_bench.presentation.reporter import progress


@command
def ls(
    what: str = typer.Argument(..., help="datasets | methods | backbones | protocols | runs"),
    *,
    where: ListOptions,
) -> None:
    """List registered datasets, methods, backbones or protocols, or the runs of a results
    folder (finished and unfinished)."""
    from fsar_bench.presentation.text import listing

    if what.lower() not in ("run", "runs"):
        typer.echo(listing(what))
        return
    from fsar_bench.data.paths import cache_dir
    from fsar_bench.report.ls_runs import runs_listing  # imports numpy, not torch

    typer.echo(runs_listing(where.runs_dir, cache_dir(where.cache_dir)))


@command
def prepare(*, data: DataOptions, output: OutputOptions) -> None:
    """Generate (synthetic) or index (real) a dataset and report found and missing videos.

    A synthetic dataset is generated from its own recorded seed.
    """
    from fsar_bench.presentation.text import prepare_table

    source = data.source()
    with progress(source.name, output=output) as report:
        reports = source.prepare(progress=report)
    report.final(prepare_table(source.dataset, source.root, reports))
    source.check_missing(reports)


@command
def episodes(*, data: DataOptions, manifest: ManifestOptions) -> None:
    """Draw seeded episodes and write them as a manifest; prints its SHA-256."""
    from fsar_bench.episodes.manifest import build_manifest, write_manifest

    source = data.source()
    spec = manifest.spec(source.name, data.variant)
    digest = write_manifest(
        build_manifest(source.index((spec.split,))[spec.split], spec), manifest.out
    )
    typer.echo(f"{digest}  {manifest.out}")
