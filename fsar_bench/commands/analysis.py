"""``fsar-bench aem``, ``start-times`` and ``tsne``: misalignment analyses (TA2N supplementary).

Each command trains the dataset's TSM probe, or loads it from the cache (see
:mod:`fsar_bench.analysis.probe`), and writes to ``OUT/<dataset>/`` (``--out``, default
``reports/analysis``) through :mod:`fsar_bench.analysis.outputs`: ``aem.json`` (every number,
the probe's mode, accuracy and which videos it was trained on and scored), ``start_times.csv``,
``aem_per_class.csv``, ``start_times.png``, ``tsne_evolution.png`` and, with
``tsne --run RUN_DIR`` (a finished ``fsar-bench run`` of TA2N), ``tsne_alignment_before.png`` /
``tsne_alignment_after.png``; ``--pdf`` adds PDFs. Importing this module imports neither torch
nor numpy.
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
    RandomInit,
    Size,
    Variant,
    Workers,
    data_source,
    progress,
)
from fsar_bench.errors import FsarError

DatasetArg = typer.Argument(..., help="Dataset name (fsar-bench ls datasets).")
Out = typer.Option(Path("reports") / "analysis", "--out", help="Files go to OUT/<dataset>/.")
Pdf = typer.Option(False, "--pdf", help="Also write the figures as PDF.")
ProbeMode = typer.Option(
    "feature-tsm",
    "--probe",
    help="feature-tsm (CPU: shift blocks on cached features, not the full TSM) | "
    "tsm-resnet50 (full TSM fine-tuned on frames; for a GPU).",
)
Sets = typer.Option([], "--set", help="probe.FIELD=VALUE, e.g. probe.epochs=20.")
Seed = typer.Option(
    0, min=0, help="Seed of the probe, its video split, the training views and t-SNE."
)
Backbone = typer.Option("efficientnet-lite0", "--backbone", "-b", help="Feature backbone.")


def _measure(
    source,
    sets: list[str],
    probe_mode: str,
    seed: int,
    backbone: str,
    size: int | None,
    frames: int,
    random_init: bool,
    device: str | None,
    workers: int | None,
):
    """Resolve the options into a :class:`MeasureRequest` and measure ``source``."""
    from fsar_bench.analysis.outputs import MeasureRequest, measure
    from fsar_bench.analysis.probe_config import ProbeConfig
    from fsar_bench.engine.overrides import apply, parse_sets
    from fsar_bench.features.settings import ExtractConfig
    from fsar_bench.runtime import pick_device

    parsed = parse_sets(sets)
    if set(parsed) - {"probe"}:
        raise FsarError(
            f"--set section {sorted(set(parsed) - {'probe'})[0]!r}: expected probe.FIELD=VALUE"
        )
    tsm = probe_mode == "tsm-resnet50"
    base = ProbeConfig(mode=probe_mode, seed=seed, random_init=random_init and tsm)
    req = MeasureRequest(
        probe=apply(base, parsed.get("probe", {}), "probe"),
        features=ExtractConfig(
            backbone=backbone, frames=frames, size=size, seed=seed, random_init=random_init
        ),
        device=str(pick_device(device)),
        workers=workers,
        seed=seed,
    )
    with progress(source.name) as update:
        return measure(source, req, update)


def aem(
    dataset: str = DatasetArg,
    out: Path = Out,
    pdf: bool = Pdf,
    probe_mode: str = ProbeMode,
    sets: list[str] = Sets,
    seed: int = Seed,
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    random_init: bool = RandomInit,
    device: str | None = Device,
    workers: int | None = Workers,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """Train or load the TSM probe; print the AEM score and start times; write all files."""
    from fsar_bench.analysis import outputs
    from fsar_bench.analysis.text import analysis_text

    source = data_source(dataset, data_root, cache_dir, variant, missing)
    probe, result = _measure(
        source, sets, probe_mode, seed, backbone, size, frames, random_init, device, workers
    )
    folder = out / source.name
    outputs.write_aem_files(folder, probe, result)
    outputs.write_start_files(folder, source.name, probe, result, pdf)
    try:
        outputs.write_evolution_tsne(folder, source.name, result, seed, pdf)
    except ValueError as err:
        typer.echo(f"t-SNE of the evolution vectors skipped: {err}", err=True)
    typer.echo(analysis_text(result.report) + f"\nfiles: {folder}")


def start_times(
    dataset: str = DatasetArg,
    out: Path = Out,
    pdf: bool = Pdf,
    probe_mode: str = ProbeMode,
    sets: list[str] = Sets,
    seed: int = Seed,
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    random_init: bool = RandomInit,
    device: str | None = Device,
    workers: int | None = Workers,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """Action start-time distribution (TA2N Fig. 2) from the dataset's TSM probe."""
    from fsar_bench.analysis import outputs
    from fsar_bench.analysis.text import analysis_text

    source = data_source(dataset, data_root, cache_dir, variant, missing)
    probe, result = _measure(
        source, sets, probe_mode, seed, backbone, size, frames, random_init, device, workers
    )
    folder = out / source.name
    outputs.write_start_files(folder, source.name, probe, result, pdf)
    text = analysis_text(result.report, ("probe", "start", "truth", "onset"))
    typer.echo(text + f"\nfiles: {folder}")


def tsne(
    dataset: str = DatasetArg,
    out: Path = Out,
    pdf: bool = Pdf,
    probe_mode: str = ProbeMode,
    run: Path | None = typer.Option(
        None,
        "--run",
        help="A finished run folder of a method with alignment extras (TA2N): "
        "also plot its embeddings before/after alignment (TA2N Fig. 8).",
    ),
    query: int = typer.Option(10, help="Queries per class of the plotted episode(s)."),
    episodes: int = typer.Option(1, help="Test episodes plotted together."),
    sets: list[str] = Sets,
    seed: int = Seed,
    backbone: str = Backbone,
    size: int | None = Size,
    frames: int = Frames,
    random_init: bool = RandomInit,
    device: str | None = Device,
    workers: int | None = Workers,
    data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir,
    missing: str = Missing,
    variant: str = Variant,
) -> None:
    """t-SNE of the evolution vectors (TA2N Fig. 3); with --run, of embeddings (Fig. 8)."""
    from fsar_bench.analysis import outputs
    from fsar_bench.analysis.text import probe_text

    source = data_source(dataset, data_root, cache_dir, variant, missing)
    summary = _run_summary(run, source.name) if run else None
    probe, result = _measure(
        source, sets, probe_mode, seed, backbone, size, frames, random_init, device, workers
    )
    folder = out / source.name
    try:
        files = outputs.write_evolution_tsne(folder, source.name, result, seed, pdf)
    except ValueError as err:
        typer.echo(f"t-SNE of the evolution vectors skipped: {err}", err=True)
        files = []
    if summary:
        files += _alignment_files(folder, source, summary, query, episodes, device, pdf)
    typer.echo(f"{probe_text(result.report['probe'])}\nwrote: " + ", ".join(map(str, files)))


def _run_summary(run: Path, dataset: str):
    """The summary of a finished run of ``dataset``, or a one-line error."""
    from fsar_bench.results.summary import read_summary

    if not (Path(run) / "summary.json").is_file():
        raise FsarError(
            f"--run {run}: no summary.json there; pass a finished run folder "
            "(runs/<dataset>/<method>-...)"
        )
    summary = read_summary(run)
    if summary.setting.dataset != dataset:
        raise FsarError(f"--run {run} is a run on {summary.setting.dataset}, not on {dataset}")
    return summary


def _alignment_files(
    folder, source, summary, query: int, episodes: int, device, pdf: bool
) -> list[Path]:
    """TA2N Fig. 8: t-SNE of a run's trained embeddings on seeded test episodes."""
    from fsar_bench.analysis.alignment import alignment_panels, method_from_run
    from fsar_bench.analysis.figures import plot_alignment_tsne
    from fsar_bench.episodes.manifest import EpisodeSpec
    from fsar_bench.features.cache import FeatureStore
    from fsar_bench.runtime import pick_device

    store = FeatureStore.open(source.cache, source.name, summary.features["test"])
    method = method_from_run(summary, store.meta.channels)
    st = summary.setting
    spec = EpisodeSpec(
        dataset=source.name,
        split="test",
        way=st.way,
        shot=st.shot,
        query=query,
        episodes=episodes,
        seed=st.seed,
        frames=st.frames,
        variant=source.variant,
    )
    index = source.index(("test",))["test"]
    panels = alignment_panels(method, store, index, spec, pick_device(device))
    try:
        return plot_alignment_tsne(
            panels, folder, f"{source.name} {summary.method}", seed=st.seed, pdf=pdf
        )
    except ValueError as err:
        raise FsarError(f"no alignment t-SNE for {summary.method} on {source.name}: {err}") from err
