"""``fsar-bench run``: the suite's main job (see :mod:`fsar_bench.engine.run`)."""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.commands.common import (
    CacheDir,
    DataRoot,
    DatasetOpt,
    Device,
    Frames,
    Missing,
    Size,
    Variant,
    Weights,
    Workers,
    csv_ints,
    csv_list,
    data_source,
    progress,
)
from fsar_bench.errors import FsarError

Methods = typer.Option(
    "protonet,otam,trn,ta2n",
    "--methods",
    "-m",
    help="Comma-separated names (fsar-bench ls methods) or package.module:Class.",
)
Shots = typer.Option("1,5", "--shots", help="Comma-separated shots.")
Protocol = typer.Option(
    "quick", "--protocol", help="Evaluation protocol (fsar-bench ls protocols)."
)
Preset = typer.Option(
    "quick",
    "--preset",
    help="Training/method defaults: quick (CPU budget) | paper (papers' recipes).",
)
Episodes = typer.Option(None, "--episodes", help="Test episodes (default: the protocol's).")
Backbone = typer.Option("efficientnet-lite0", "--backbone", "-b", help="Frozen feature backbone.")
Sets = typer.Option([], "--set", help="SECTION.FIELD=VALUE, e.g. otam.lam=0.05")
Baseline = typer.Option("protonet", "--baseline", help="Method paired differences compare to.")
RunsDir = typer.Option(Path("runs"), "--runs-dir", help="Where results are written.")
Select = typer.Option(
    "val",
    "--select",
    help="Model selection: val (best on the val split) | last (final weights) | holdout:K "
    "(K training classes held out as validation).",
)
Finetune = typer.Option(
    False,
    "--finetune",
    help="Train the backbone with the method on decoded frames (the papers' track; for a GPU) "
    "instead of cached features.",
)


def _sets(sets: list[str], names: tuple[str, ...]) -> dict:
    """``--set`` values by section; a section must be ``train`` or a method of this run."""
    from fsar_bench.engine.overrides import parse_sets

    parsed = parse_sets(sets)
    unknown = set(parsed) - {"train", *names}
    if unknown:
        raise FsarError(
            f"--set section {sorted(unknown)[0]!r} is neither 'train' nor a method of this run "
            f"({', '.join(names)})"
        )
    return parsed


def run(
    methods: str = Methods,
    dataset: str = DatasetOpt,
    shots: str = Shots,
    way: int = typer.Option(5, "--way"),
    protocol: str = Protocol,
    preset: str = Preset,
    episodes: int | None = Episodes,
    seed: int = typer.Option(0, "--seed", min=0),
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    weights: Path | None = Weights,
    sets: list[str] = Sets,
    select: str = Select,
    baseline: str = Baseline,
    runs_dir: Path = RunsDir,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
    device: str | None = Device,
    finetune: bool = Finetune,
    workers: int | None = Workers,
) -> None:
    """Train and evaluate methods on identical episodes; print accuracy and paired differences."""
    from fsar_bench.engine.run import RunRequest, check_request, run_benchmark
    from fsar_bench.episodes.protocols import PROTOCOLS
    from fsar_bench.features import BACKBONES
    from fsar_bench.methods import METHODS
    from fsar_bench.report.console import run_tables
    from fsar_bench.runtime import init_runtime, pick_device

    names = tuple(dict.fromkeys(METHODS.get(m).name for m in csv_list(methods)))  # no repeats
    base = METHODS.get(baseline).name
    parsed = _sets(sets, names)
    req = RunRequest(
        methods=names,
        shots=tuple(dict.fromkeys(csv_ints(shots, "--shots"))),
        way=way,
        protocol=PROTOCOLS.get(protocol).name,
        episodes=episodes,
        seed=seed,
        backbone=BACKBONES.get(backbone).name,
        size=size,
        frames=frames,
        weights=str(weights) if weights else None,
        preset=preset,
        sets=parsed,
        select=select,
        runs=runs_dir,
        device=str(pick_device(device)),
        finetune=finetune,
        workers=workers,
    )
    check_request(req)
    source = data_source(dataset, data_root, cache_dir, variant, missing)
    import torch

    torch.set_float32_matmul_precision("high")
    runtime = init_runtime(req.device)  # under torchrun: this rank (see README)
    ranks = {"runtime": runtime} if runtime.distributed else {}  # alone: run_benchmark's own
    try:
        with progress(source.name, show=runtime.is_main) as update:
            summaries = run_benchmark(source, req, update, **ranks)
    finally:
        runtime.close()
    if runtime.is_main:
        typer.echo(run_tables(summaries, base))
        typer.echo(f"\nresults: {runs_dir / source.name}")
