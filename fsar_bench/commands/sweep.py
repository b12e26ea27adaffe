"""``fsar-bench sweep`` and ``fsar-bench profile``: misalignment sweeps and per-dataset profiles.

``profile DATASET`` measures one dataset completely (:func:`fsar_bench.analysis.sweep.
profile_point`): trains and evaluates ``--methods`` (and OTAM with ``matching=mean`` when OTAM is
among them: the alignment gain), runs the probe's analyses and the order sensitivity of every
trained method, and writes ``OUT/<dataset>/profile.json`` beside ``aem.json``;
``fsar-bench report --analysis OUT`` turns every ``profile.json`` into the ``profile`` table.

``sweep --factor F --levels L1,L2,...`` does the same for each ``synthetic-<F>-<level>`` (same
run options, hence identical episode specs on every level) and writes ``OUT/sweep-<F>/``:
``sweep.csv``, ``sweep.json`` (with the rank correlations) and the figures
(:mod:`fsar_bench.analysis.sweep_table`). Finished points, runs and probes are reused.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.commands.common import (
    CacheDir,
    DataRoot,
    Device,
    Frames,
    Missing,
    Size,
    Variant,
    csv_ints,
    csv_list,
    data_source,
    progress,
)
from fsar_bench.commands.run import Backbone, Episodes, Preset, Protocol, RunsDir, Select
from fsar_bench.errors import FsarError

Methods = typer.Option(
    "otam,protonet",
    "--methods",
    "-m",
    help="Comma-separated methods (fsar-bench ls methods); with otam, otam matching=mean too.",
)
Shots = typer.Option("1", "--shots", help="Comma-separated shots.")
Sets = typer.Option([], "--set", help="SECTION.FIELD=VALUE: train.*, a method's, or probe.*.")
Out = typer.Option(Path("reports") / "analysis", "--out", help="Points go to OUT/<dataset>/.")
PooledOnly = typer.Option(
    False,
    "--pooled-only",
    help="Extract pooled features only (no maps: "
    "~16x less disk); every method must be pooled; the probe reads "
    "them too.",
)
NoOrder = typer.Option(False, "--no-order", help="Skip the order-sensitivity evaluations.")
ProbeMode = typer.Option("feature-tsm", "--probe", help="feature-tsm | tsm-resnet50.")
Factor = typer.Option(..., "--factor", help="duration | evolution | spatial.")
Levels = typer.Option(
    "none,low,mid,high",
    "--levels",
    help="Comma-separated levels, least misaligned first: none, low, mid, high or numbers.",
)


def point_request(
    methods: str,
    shots: str,
    way: int,
    protocol: str,
    preset: str,
    episodes: int | None,
    seed: int,
    backbone: str,
    size: int | None,
    frames: int,
    sets: list[str],
    select: str,
    runs_dir: Path,
    device: str | None,
    out: Path,
    no_order: bool,
    probe_mode: str,
    pooled_only: bool = False,
):
    """Resolve the command's options into a checked :class:`PointRequest`."""
    from fsar_bench.analysis.outputs import MeasureRequest
    from fsar_bench.analysis.probe_config import ProbeConfig
    from fsar_bench.analysis.sweep import PointRequest
    from fsar_bench.engine.overrides import apply, parse_sets
    from fsar_bench.engine.run import RunRequest, check_request
    from fsar_bench.episodes.protocols import PROTOCOLS
    from fsar_bench.features import BACKBONES
    from fsar_bench.features.settings import ExtractConfig
    from fsar_bench.methods import METHODS
    from fsar_bench.runtime import pick_device

    names = tuple(dict.fromkeys(METHODS.get(m).name for m in csv_list(methods)))
    parsed = parse_sets(sets)
    unknown = set(parsed) - {"train", "probe", *names}
    if unknown:
        raise FsarError(
            f"--set section {sorted(unknown)[0]!r} is neither 'train', 'probe' nor "
            f"a method of this command ({', '.join(names)})"
        )
    dev = str(pick_device(device))
    run = RunRequest(
        methods=names,
        shots=tuple(dict.fromkeys(csv_ints(shots, "--shots"))),
        way=way,
        protocol=PROTOCOLS.get(protocol).name,
        episodes=episodes,
        seed=seed,
        backbone=BACKBONES.get(backbone).name,
        size=size,
        frames=frames,
        preset=preset,
        sets={k: v for k, v in parsed.items() if k != "probe"},
        select=select,
        runs=runs_dir,
        device=dev,
        maps=not pooled_only,
    )
    check_request(run)
    probe = apply(ProbeConfig(mode=probe_mode, seed=seed), parsed.get("probe", {}), "probe")
    xcfg = ExtractConfig(
        backbone=run.backbone, frames=frames, size=size, seed=seed, maps=not pooled_only
    )
    measure = MeasureRequest(probe=probe, features=xcfg, device=dev, seed=seed)
    return PointRequest(run=run, measure=measure, out=out, order=not no_order)


def profile(
    dataset: str = typer.Argument(..., help="Dataset name (fsar-bench ls datasets)."),
    methods: str = Methods,
    shots: str = Shots,
    way: int = typer.Option(5, "--way"),
    protocol: str = Protocol,
    preset: str = Preset,
    episodes: int | None = Episodes,
    seed: int = typer.Option(0, "--seed", min=0),
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    sets: list[str] = Sets,
    select: str = Select,
    runs_dir: Path = RunsDir,
    out: Path = Out,
    no_order: bool = NoOrder,
    pooled_only: bool = PooledOnly,
    probe_mode: str = ProbeMode,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
    device: str | None = Device,
) -> None:
    """Misalignment profile of one dataset: start-time spread, AEM, order sensitivity, gain."""
    from fsar_bench.analysis.sweep import profile_point
    from fsar_bench.report.misalignment import profile_text

    req = point_request(
        methods,
        shots,
        way,
        protocol,
        preset,
        episodes,
        seed,
        backbone,
        size,
        frames,
        sets,
        select,
        runs_dir,
        device,
        out,
        no_order,
        probe_mode,
        pooled_only,
    )
    source = data_source(dataset, data_root, cache_dir, variant, missing)
    with progress(source.name) as update:
        point = profile_point(source, req, update)
    typer.echo(profile_text([point]) + f"\nfiles: {out / source.name}")


def sweep(
    factor: str = Factor,
    levels: str = Levels,
    methods: str = Methods,
    shots: str = Shots,
    way: int = typer.Option(5, "--way"),
    protocol: str = Protocol,
    preset: str = Preset,
    episodes: int | None = Episodes,
    seed: int = typer.Option(0, "--seed", min=0),
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    sets: list[str] = Sets,
    select: str = Select,
    runs_dir: Path = RunsDir,
    out: Path = Out,
    no_order: bool = NoOrder,
    pooled_only: bool = PooledOnly,
    probe_mode: str = ProbeMode,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    device: str | None = Device,
) -> None:
    """Sweep one synthetic factor: accuracy, AEM and start-time error against the level."""
    from fsar_bench.analysis.sweep import run_sweep, sweep_datasets
    from fsar_bench.analysis.sweep_table import rank_correlations, write_sweep
    from fsar_bench.report.misalignment import profile_text

    chosen = csv_list(levels)
    sweep_datasets(factor, chosen)  # bad factor or levels: fail before any work
    req = point_request(
        methods,
        shots,
        way,
        protocol,
        preset,
        episodes,
        seed,
        backbone,
        size,
        frames,
        sets,
        select,
        runs_dir,
        device,
        out,
        no_order,
        probe_mode,
        pooled_only,
    )

    def source_for(name: str):
        return data_source(name, data_root, cache_dir)

    with progress(f"sweep {factor}") as update:
        points = run_sweep(factor, chosen, source_for, req, update)
    files = write_sweep(out / f"sweep-{factor}", factor, chosen, points)
    corr = rank_correlations(points)
    text = ", ".join(f"{k} {v:.3f}" for k, v in corr.items() if isinstance(v, float))
    typer.echo(profile_text(points) + f"\nSpearman: {text}\nfiles: {files[0].parent}")
