"""The ``fsar-bench`` command line: a thin layer over the library.

Start-up is fast: ``--help`` and ``ls`` import neither torch nor numpy; each command imports
what it needs when it runs. User errors print one line (what, where, how to fix) and exit 2.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from fsar_bench.errors import FsarError

app = typer.Typer(
    name="fsar-bench",
    help="Benchmark and misalignment analysis for few-shot action recognition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataRoot = typer.Option(None, "--data-root", help="The dataset's folder (else FSAR_DATA_ROOT).")
CacheDir = typer.Option(None, "--cache-dir", help="Cache folder (else FSAR_CACHE_DIR).")
Missing = typer.Option("error", "--missing", help="Listed videos not found: error | skip.")
Variant = typer.Option("", "--variant", help="Published list variant (e.g. ta2n, hyrsm).")


def _dataset(name: str):
    from fsar_bench.data.datasets import resolve_dataset

    return resolve_dataset(name)


@contextmanager
def _progress(description: str):
    """A rich progress bar; yields ``update(stage, done, total)``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    cols = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*cols, transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{description}: {stage}", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@app.command("ls")
def ls(
    what: str = typer.Argument(..., help="datasets | methods | backbones | protocols"),
) -> None:
    """List registered datasets, methods, backbones or protocols."""
    from fsar_bench.listing import listing

    typer.echo(listing(what))


@app.command()
def prepare(
    dataset: str = typer.Option("synthetic", "--dataset", "-d"),
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
    seed: int = typer.Option(0, help="Seed of a synthetic dataset."),
) -> None:
    """Generate (synthetic) or index (real) a dataset and report found and missing videos."""
    from fsar_bench import paths
    from fsar_bench.listing import prepare_table
    from fsar_bench.prepare import check_missing
    from fsar_bench.prepare import prepare as run_prepare

    info = _dataset(dataset)
    cache = paths.cache_dir(cache_dir)
    root = paths.data_root(info, data_root, cache)
    with _progress(info.name) as update:
        reports = run_prepare(info, root, cache, variant, seed=seed, progress=update)
    typer.echo(prepare_table(info, root, reports))
    check_missing(info, root, reports, missing)


@app.command()
def episodes(
    dataset: str = typer.Option("synthetic", "--dataset", "-d"),
    split: str = typer.Option("test", help="train | val | test"),
    way: int = typer.Option(5),
    shot: int = typer.Option(1),
    query: int | None = typer.Option(None, help="Queries per class [protocol's, else 1]."),
    n_episodes: int | None = typer.Option(
        None, "--episodes", help="Episodes [protocol's, else 10000]."
    ),
    protocol: str | None = typer.Option(
        None, help="Protocol preset (fsar-bench ls protocols): sets --episodes and --query."
    ),
    seed: int = typer.Option(0),
    frames: int = typer.Option(8, help="Frames per video."),
    sampling: str = typer.Option("trx", help="Test-time frame sampling: trx | centre."),
    out: Path = typer.Option(..., "--out", help="Manifest file to write."),
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """Draw seeded episodes and write them as a manifest; prints its SHA-256."""
    from fsar_bench import paths
    from fsar_bench.data.datasets import SPLITS
    from fsar_bench.data.index import load_index
    from fsar_bench.data.sampling import TEST_MODES
    from fsar_bench.episodes import EpisodeSpec, build_manifest, write_manifest

    if split not in SPLITS:
        raise FsarError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if sampling not in TEST_MODES:
        raise FsarError(f"unknown sampling {sampling!r}; choose from {', '.join(TEST_MODES)}")
    if protocol is not None:
        from fsar_bench.protocols import PROTOCOLS

        proto = PROTOCOLS.get(protocol)
        n_episodes = proto.total_episodes if n_episodes is None else n_episodes
        query = proto.query if query is None else query
    n_episodes = 10_000 if n_episodes is None else n_episodes
    query = 1 if query is None else query
    info = _dataset(dataset)
    cache = paths.cache_dir(cache_dir)
    root = paths.data_root(info, data_root, cache)
    index = load_index(info, root, cache, variant, missing, splits=(split,))
    spec = EpisodeSpec(
        info.name, split, way, shot, query, n_episodes, seed, frames, sampling, variant
    )
    digest = write_manifest(build_manifest(index[split], spec), out)
    typer.echo(f"{digest}  {out}")


def _register() -> None:
    """Commands that live in their own modules (torch is imported inside them, not here)."""
    from fsar_bench.commands.analysis import aem, start_times, tsne
    from fsar_bench.commands.extract import extract
    from fsar_bench.commands.report import report
    from fsar_bench.commands.run import run

    app.command("extract")(extract)
    app.command("run")(run)
    app.command("report")(report)
    app.command("aem")(aem)
    app.command("start-times")(start_times)
    app.command("tsne")(tsne)


_register()


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the app and turns user errors into one line and exit status 2."""
    from fsar_bench.commands.extract import tune_cpu

    tune_cpu()  # before torch is imported by any command
    try:
        app(args=argv, standalone_mode=False)
    except FsarError as err:
        typer.echo(f"error: {err}", err=True)
        return err.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted; run the same command again to continue", err=True)
        return 130
    except typer.exceptions.TyperException as err:  # usage errors carry their own exit code
        err.show()
        return err.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
