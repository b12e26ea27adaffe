"""``fsar-bench aem``, ``start-times`` and ``tsne``: misalignment analyses (TA2N supplementary).

Each command trains the dataset's TSM probe, or loads it from the cache (see
:mod:`fsar_bench.analysis.probe.trained`), and writes to ``OUT/<dataset>/`` (``--out``, default
``reports/analysis``) through :mod:`fsar_bench.analysis.measures.outputs`: ``aem.json`` (every
number, the probe's mode, accuracy and which videos it was trained on and scored),
``start_times.csv``, ``aem_per_class.csv``, ``start_times.png``, ``tsne_evolution.png`` and, with
``tsne --run RUN_DIR`` (a finished ``fsar-bench run`` of TA2N), ``tsne_alignment_before.png`` /
``tsne_alignment_after.png``; ``--pdf`` adds PDFs. Importing this module imports neither torch
nor numpy.
"""

from __future__ import annotations

from pathlib import Path

import typer

from fsar_bench.commands.options import command
from fsar_bench.errors import FsarError
from fsar_bench.options.analysis import ProbeOptions
from fsar_bench.options.common import ComputeOptions, DatasetArgument, OutputOptions
from fsar_bench.options.features import FeatureOptions
from fsar_bench.presentation.reporter import progress


def _measure(data: DatasetArgument, probe: ProbeOptions, features, compute, output):
    """The command's reporter, the data source, and its probe and measures."""
    from fsar_bench.analysis.measures.outputs import measure

    req = probe.measure_request(features, compute)
    source = data.source()
    with progress(source.name, output=output) as report:
        return report, source, *measure(source, req, report)


def _evolution_tsne(folder: Path, name: str, result, probe: ProbeOptions) -> list[Path]:
    """t-SNE of the evolution vectors, or a line saying why it was skipped."""
    from fsar_bench.analysis.measures import outputs

    try:
        return outputs.write_evolution_tsne(folder, name, result, probe.seed, probe.pdf)
    except ValueError as err:
        typer.echo(f"t-SNE of the evolution vectors skipped: {err}", err=True)
        return []


@command
def aem(
    *,
    data: DatasetArgument,
    probe: ProbeOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    output: OutputOptions,
) -> None:
    """Train or load the TSM probe; print the AEM score and start times; write all files."""
    from fsar_bench.analysis.measures import outputs
    from fsar_bench.analysis.measures.text import analysis_text

    report, source, trained, result = _measure(data, probe, features, compute, output)
    folder = probe.out / source.name
    with outputs.output_lock(folder):
        outputs.write_aem_files(folder, trained, result)
        outputs.write_start_files(folder, source.name, trained, result, probe.pdf)
        _evolution_tsne(folder, source.name, result, probe)
    report.final(analysis_text(result.report) + f"\nfiles: {folder}")


@command
def start_times(
    *,
    data: DatasetArgument,
    probe: ProbeOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    output: OutputOptions,
) -> None:
    """Action start-time distribution (TA2N Fig. 2) from the dataset's TSM probe."""
    from fsar_bench.analysis.measures import outputs
    from fsar_bench.analysis.measures.text import analysis_text

    report, source, trained, result = _measure(data, probe, features, compute, output)
    folder = probe.out / source.name
    with outputs.output_lock(folder):
        outputs.write_start_files(folder, source.name, trained, result, probe.pdf)
    text = analysis_text(result.report, ("probe", "start", "truth", "onset"))
    report.final(text + f"\nfiles: {folder}")


RunDirOpt = typer.Option(
    None,
    "--run",
    help="A finished run folder of a method with alignment extras (TA2N): "
    "also plot its embeddings before/after alignment (TA2N Fig. 8).",
)


@command
def tsne(
    run: Path | None = RunDirOpt,
    query: int = typer.Option(10, help="Queries per class of the plotted episode(s).", min=1),
    episodes: int = typer.Option(1, help="Test episodes plotted together.", min=1),
    *,
    data: DatasetArgument,
    probe: ProbeOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    output: OutputOptions,
) -> None:
    """t-SNE of the evolution vectors (TA2N Fig. 3); with --run, of embeddings (Fig. 8)."""
    from fsar_bench.analysis.measures.outputs import output_lock
    from fsar_bench.analysis.measures.text import probe_text

    summary = _run_summary(run, data.source().name) if run else None
    report, source, _, result = _measure(data, probe, features, compute, output)
    folder = probe.out / source.name
    with output_lock(folder):
        files = _evolution_tsne(folder, source.name, result, probe)
        if summary:
            files += _alignment_files(
                folder=folder,
                source=source,
                summary=summary,
                query=query,
                episodes=episodes,
                device=compute.device,
                pdf=probe.pdf,
            )
    report.final(f"{probe_text(result.report.probe)}\nwrote: " + ", ".join(map(str, files)))


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
    from fsar_bench.analysis.measures.alignment import alignment_panels, method_from_run
    from fsar_bench.analysis.measures.figures import plot_alignment_tsne
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
