"""``fsar-bench sweep`` and ``fsar-bench profile``: misalignment sweeps and per-dataset profiles.

``profile DATASET`` measures one dataset completely (:func:`fsar_bench.analysis.sweep.points.
profile_point`): trains and evaluates ``--methods`` (and OTAM with ``matching=mean`` when OTAM is
among them: the alignment gain), runs the probe's analyses and the order sensitivity of every
trained method, and writes ``OUT/<dataset>/profile.json`` beside ``aem.json``;
``fsar-bench report --analysis OUT`` turns every ``profile.json`` into the ``profile`` table.

``sweep --factor F --levels L1,L2,...`` does the same for each ``synthetic-<F>-<level>`` (same
run options, hence identical episode specs on every level) and writes ``OUT/sweep-<F>/``:
``sweep.csv``, ``sweep.json`` (with the rank correlations) and the figures
(:mod:`fsar_bench.analysis.sweep.table`). Finished points, runs and probes are reused.
"""

from __future__ import annotations

import dataclasses

import typer

from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DatasetArgument, LevelData, OutputOptions
from fsar_bench.options.features import FeatureOptions
from fsar_bench.options.run import ProfileOptions
from fsar_bench.presentation.reporter import progress

Factor = typer.Option(..., "--factor", help="duration | evolution | spatial.")
Levels = typer.Option(
    "none,low,mid,high",
    "--levels",
    help="Comma-separated levels, least misaligned first: none, low, mid, high or numbers.",
)


def point_request(options: ProfileOptions, features: FeatureOptions, compute: ComputeOptions):
    """Resolve the command's groups into a checked :class:`PointRequest`."""
    from fsar_bench.analysis.measures.outputs import MeasureRequest
    from fsar_bench.analysis.probe.config import ProbeConfig
    from fsar_bench.analysis.sweep.points import PointRequest
    from fsar_bench.engine.overrides import apply, parse_sets
    from fsar_bench.engine.request import check_request
    from fsar_bench.features.settings import ExtractConfig

    run = options.request(compute, features, maps=not options.pooled_only)
    check_request(run)
    probe_sets = parse_sets(list(options.sets)).get("probe", {})
    probe = apply(ProbeConfig(mode=options.probe_mode, seed=options.seed), probe_sets, "probe")
    xcfg = ExtractConfig(
        backbone=run.backbone,
        frames=run.frames,
        size=run.size,
        weights=run.weights,
        seed=options.seed,
        maps=run.maps,
        map_size=run.map_size,
    )
    measure = MeasureRequest(
        probe=probe, features=xcfg, device=run.device, workers=run.workers, seed=options.seed
    )
    return PointRequest(run=run, measure=measure, out=options.out, order=not options.no_order)


@command
def profile(
    *,
    data: DatasetArgument,
    options: ProfileOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    output: OutputOptions,
) -> None:
    """Misalignment profile of one dataset: start-time spread, AEM, order sensitivity, gain."""
    from fsar_bench.analysis.sweep.points import profile_point
    from fsar_bench.report.misalignment import profile_text

    req = point_request(options, features, compute)
    source = data.source()
    with progress(source.name, output=output) as report:
        point = profile_point(source, req, report, on_cell=report.cell)
    report.final(profile_text([point]) + f"\nfiles: {options.out / source.name}")


@command
def sweep(
    factor: str = Factor,
    levels: str = Levels,
    *,
    options: ProfileOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    data: LevelData,
    output: OutputOptions,
) -> None:
    """Sweep one synthetic factor: accuracy, AEM and start-time error against the level."""
    from fsar_bench.analysis.measures.outputs import output_lock
    from fsar_bench.analysis.sweep.points import run_sweep, sweep_datasets
    from fsar_bench.analysis.sweep.table import rank_correlations, write_sweep
    from fsar_bench.options.spelling import csv_items
    from fsar_bench.report.misalignment import profile_text

    chosen = list(csv_items(levels))
    sweep_datasets(factor, chosen)  # bad factor or levels: fail before any work
    req = point_request(options, features, compute)

    def source_for(name: str):
        return dataclasses.replace(data, dataset=name).source()

    with progress(f"sweep {factor}", output=output) as report:
        points = run_sweep(factor, chosen, source_for, req, report, on_cell=report.cell)
    folder = options.out / f"sweep-{factor}"
    with output_lock(folder):
        files = write_sweep(folder, factor, chosen, points)
    corr = rank_correlations(points)
    values = corr.to_json().items()
    text = ", ".join(f"{k} {v:.3f}" for k, v in values if isinstance(v, float))
    report.final(profile_text(points) + f"\nSpearman: {text}\nfiles: {files[0].parent}")
