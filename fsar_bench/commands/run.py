"""``fsar-bench run``: the suite's main job (see :mod:`fsar_bench.run`)."""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.errors import FsarError


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run(
    methods: str = typer.Option(
        "protonet,otam,trn,ta2n", "--methods", "-m", help="Comma-separated method names."
    ),
    dataset: str = typer.Option("synthetic", "--dataset", "-d"),
    shots: str = typer.Option("1,5", help="Comma-separated shots."),
    way: int = typer.Option(5),
    protocol: str = typer.Option("quick", help="Evaluation protocol (fsar-bench ls protocols)."),
    preset: str = typer.Option(
        "quick", help="Training/method defaults: quick (CPU budget) | paper (papers' recipes)."
    ),
    episodes: int | None = typer.Option(None, help="Test episodes (default: the protocol's)."),
    seed: int = typer.Option(0),
    backbone: str = typer.Option("efficientnet-lite0"),
    size: int | None = typer.Option(None, help="Input side in pixels (default: backbone's)."),
    frames: int = typer.Option(8),
    sets: list[str] = typer.Option([], "--set", help="SECTION.FIELD=VALUE, e.g. otam.lam=0.05"),
    baseline: str = typer.Option("protonet", help="Method that paired differences compare to."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where results are written."),
    data_root: Path | None = typer.Option(None, "--data-root"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir"),
    missing: str = typer.Option("error", "--missing", help="error | skip"),
    variant: str = typer.Option("", "--variant"),
    device: str | None = typer.Option(None, help="cpu | cuda (default: CUDA when present)."),
) -> None:
    """Train and evaluate methods on identical episodes; print accuracy and paired differences."""
    from fsar_bench import paths
    from fsar_bench.cli import _progress
    from fsar_bench.compare import accuracy_table, paired_table, protocol_line
    from fsar_bench.data.datasets import resolve_dataset
    from fsar_bench.features import BACKBONES
    from fsar_bench.methods import METHODS
    from fsar_bench.overrides import parse_sets
    from fsar_bench.protocols import PROTOCOLS
    from fsar_bench.run import RunRequest, check_preset, run_benchmark

    names = tuple(METHODS.get(m).name for m in _csv(methods))
    try:
        shot_list = tuple(int(k) for k in _csv(shots))
    except ValueError as err:
        raise FsarError(f"--shots {shots!r}: expected comma-separated integers like 1,5") from err
    info = resolve_dataset(dataset)
    PROTOCOLS.get(protocol)
    BACKBONES.get(backbone)
    parsed = parse_sets(sets)
    unknown = set(parsed) - {"train", *names}
    check_preset(preset)
    if unknown:
        raise FsarError(
            f"--set section {sorted(unknown)[0]!r} is neither 'train' nor a method of this run "
            f"({', '.join(names)})"
        )
    req = RunRequest(
        names,
        info.name,
        shot_list,
        way,
        protocol,
        episodes,
        seed,
        BACKBONES.get(backbone).name,
        size,
        frames,
        variant,
        missing,
    )
    cache = paths.cache_dir(cache_dir)
    root = paths.data_root(info, data_root, cache)
    import torch

    from fsar_bench.features.backbones import pick_device

    dev = pick_device(device)
    torch.set_float32_matmul_precision("high")
    with _progress(info.name) as update:
        summaries = run_benchmark(req, parsed, root, cache, runs_dir, dev, update)
    typer.echo(protocol_line(summaries))
    typer.echo(accuracy_table(summaries))
    typer.echo("")
    typer.echo(paired_table(summaries, baseline))
    typer.echo(f"\nresults: {runs_dir / info.name}")
