"""``fsar-bench aem``, ``start-times`` and ``tsne``: misalignment analyses (TA2N supplementary).

Registered in ``fsar_bench.cli`` as ``app.command("aem")(aem)``,
``app.command("start-times")(start_times)`` and ``app.command("tsne")(tsne)``. Importing this
module imports neither torch nor numpy.

Each command trains the dataset's TSM probe, or loads it from the cache (see
:mod:`fsar_bench.analysis.probe`), and writes to ``OUT/<dataset>/`` (``--out``, default
``reports/analysis``): ``aem.json`` (every number, the probe's mode, accuracy and which videos it
was trained on and scored), ``start_times.csv``, ``aem_per_class.csv``, ``start_times.png``,
``tsne_evolution.png`` and, with ``tsne --method ta2n --checkpoint PATH``,
``tsne_alignment_before.png`` / ``tsne_alignment_after.png``; ``--pdf`` adds PDFs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import typer

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
Seed = typer.Option(0, help="Seed of the probe, its video split, the training views and t-SNE.")
Backbone = typer.Option("efficientnet-lite0", "--backbone", "-b", help="Feature backbone.")
Size = typer.Option(None, help="Feature input side in pixels (default: the backbone's).")
Frames = typer.Option(8, help="Frames per video (T).")
RandomInit = typer.Option(False, "--random-init", help="Random network weights (tests only).")
Device = typer.Option(None, help="cpu | cuda (default: CUDA when present).")
Workers = typer.Option(None, help="Decoding processes (default: cores - 1).")
DataRoot = typer.Option(None, "--data-root", help="The dataset's folder (else FSAR_DATA_ROOT).")
CacheDir = typer.Option(None, "--cache-dir", help="Cache folder (else FSAR_CACHE_DIR).")
Missing = typer.Option("error", "--missing", help="Listed videos not found: error | skip.")
Variant = typer.Option("", "--variant", help="Published list variant (e.g. ta2n, hyrsm).")


def _measure(dataset, probe_mode, sets, seed, backbone, size, frames, random_init, device,
             workers, data_root, cache_dir, missing, variant, extra_sections=()):  # fmt: skip
    """Train or load the probe and measure; returns ``(info, root, cache, probe, result)``."""
    from fsar_bench import paths
    from fsar_bench.analysis.misalignment import analyse, true_starts
    from fsar_bench.analysis.probe import ProbeConfig, ensure_probe
    from fsar_bench.analysis.reference import ground_truth_records
    from fsar_bench.cli import _progress
    from fsar_bench.data.datasets import resolve_dataset
    from fsar_bench.features.backbones import pick_device
    from fsar_bench.features.extract import ExtractConfig
    from fsar_bench.overrides import apply, parse_sets
    from fsar_bench.prepare import prepare

    info = resolve_dataset(dataset)
    parsed = parse_sets(sets)
    unknown = set(parsed) - {"probe", *extra_sections}
    if unknown:
        raise FsarError(f"--set section {sorted(unknown)[0]!r}: expected probe.FIELD=VALUE")
    tsm = probe_mode == "tsm-resnet50"
    base = ProbeConfig(mode=probe_mode, seed=seed, random_init=random_init and tsm)
    config = apply(base, parsed.get("probe", {}), "probe")
    xcfg = ExtractConfig(
        backbone=backbone, frames=frames, size=size, seed=seed, random_init=random_init
    )
    cache = paths.cache_dir(cache_dir)
    root = paths.data_root(info, data_root, cache)
    with _progress(info.name) as update:
        if info.is_synthetic and not (root / "COMPLETE").is_file():
            prepare(info, root, cache, variant, seed=seed, progress=update)
        probe = ensure_probe(
            info, root, cache, config, xcfg, variant=variant, missing=missing,
            device=pick_device(device), workers=workers, progress=update,
        )  # fmt: skip
    truth = records = None
    if info.is_synthetic:
        ids = [v.video_id for v in probe.scored]
        truth, records = true_starts(root, ids), ground_truth_records(root, ids)
    return info, root, cache, probe, analyse(probe, info.name, truth, records)


def _clean(value):
    """JSON-able copy with NaN / inf as ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _fmt(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, spec)


def _probe_text(summary: dict) -> str:
    seconds = summary["train_seconds"]
    which = "seen in training" if summary["scored_videos_seen_in_training"] else "held out"
    return "\n".join([
        f"probe: {summary['description']}",
        f"  {summary['videos_note']}",
        f"  accuracy on the scored videos ({which}): {summary['accuracy_video']:.1%} per video, "
        f"{summary['accuracy_frame']:.1%} per frame ({summary['classes']} classes); "
        f"{summary['epochs']} epochs, {_fmt(seconds, '.0f')} s of training",
        f"  cached in {summary['folder']}",
    ])  # fmt: skip


def _aem_text(report: dict) -> str:
    pub = report["published"]
    lines = [
        f"AEM, TA2N Eq. (10) as printed (M = 2v(v-1)): {_fmt(report['aem_eq10_as_printed'])}",
        f"mean pairwise cosine distance (2 x AEM):      "
        f"{_fmt(report['mean_pairwise_cosine_distance'])}  ({report['videos']} videos)",
    ]
    if pub:
        lines.append(f"published ({pub['source']}, {pub['table']}): {pub['value']:.4f}")
    low, high = report["aem_interval_95"]
    conf, within = report["aem_confident"], report["aem_within_class"]
    lines += [
        f"AEM 95% bootstrap interval: [{_fmt(low)}, {_fmt(high)}]",
        f"AEM of the {conf['videos']} videos ({conf['share']:.1%}) classified correctly with "
        f"p >= {conf['tau']:g}: {_fmt(conf['aem_eq10_as_printed'])}; of the other "
        f"{conf['others']['videos']}: {_fmt(conf['others']['aem_eq10_as_printed'])}",
        f"AEM over same-class pairs only: {_fmt(within['aem_eq10_as_printed'])} "
        f"[{_fmt(within['interval_95'][0])}, {_fmt(within['interval_95'][1])}]; confident "
        f"videos: {_fmt(within['confident'])}",
    ]  # fmt: skip
    ref = report.get("aem_reference")
    if ref:
        prog, warp = ref["progress"], ref["warp"]
        lines.append(
            f"ground-truth AEM (true progress, 0 outside the action): "
            f"{_fmt(prog['aem_eq10_as_printed'])} (confident subset "
            f"{_fmt(prog['confident_subset']['aem_eq10_as_printed'])}); evolution only (warp): "
            f"{_fmt(warp['aem_eq10_as_printed'])}; per-video Spearman probe vs progress "
            f"{_fmt(prog['tracking_spearman'], '.3f')}"
        )
    return "\n".join(lines)


def _start_text(report: dict) -> str:
    from fsar_bench.listing import table

    st = report["start_times"]
    hist = st["histogram"]
    rows = [["videos", *hist["counts"]], ["%", *(f"{100 * f:.1f}" for f in hist["fractions"])]]
    mean = _fmt(st["mean"] + 1 if st["mean"] == st["mean"] else None, ".2f")
    return (
        f"start times (first sampled frame with p >= {st['threshold']:g}; frames 1..T):\n"
        + table(["frame", *hist["labels"]], rows)
        + f"\nmean start frame {mean} over the {st['n_videos'] - st['never']} videos that "
        f"start; {st['never']} never reach {st['threshold']:g}"
    )


def _truth_text(gt: dict | None) -> str:
    if not gt:
        return ""
    return (
        f"ground truth ({gt['compared']} of {gt['videos']} videos; {gt['never_reached']} never "
        f"reach 0.5): Pearson r {_fmt(gt['pearson_r'], '.3f')}, Spearman rho "
        f"{_fmt(gt['spearman_rho'], '.3f')}, MAE {_fmt(gt['mae_frames'], '.2f')} frames "
        f"(signed {_fmt(gt['mean_error_frames'], '+.2f')}), {_fmt(gt['mae_steps'], '.2f')} "
        f"sampled steps ({_fmt(gt['exact_step_fraction'], '.1%')} exact)"
    )


def _onset_text(report: dict) -> str:
    onset = report["onset"]
    gt, oracle = onset.get("ground_truth"), onset.get("oracle_ground_truth")
    head = f"onset ({onset['estimator']}): {onset['never']} of {report['videos']} never reach it"
    if not gt:
        return head
    return (
        f"{head}; against the truth: Pearson r {_fmt(gt['pearson_r'], '.3f')}, Spearman rho "
        f"{_fmt(gt['spearman_rho'], '.3f')}, MAE {_fmt(gt['mae_frames'], '.2f')} frames (signed "
        f"{_fmt(gt['mean_error_frames'], '+.2f')}); ceiling (first sampled frame at or after the "
        f"true start): rho {_fmt(oracle['spearman_rho'], '.3f')}, MAE "
        f"{_fmt(oracle['mae_frames'], '.2f')}"
    )


def _start_files(folder: Path, info, probe, result, pdf: bool) -> list[Path]:
    from fsar_bench.analysis.figures import plot_start_times
    from fsar_bench.analysis.misalignment import write_start_times_csv

    csv_file = write_start_times_csv(folder / "start_times.csv", probe, result)
    title = f"Start time: {info.name} ({probe.config.mode})"
    png = plot_start_times({info.name: result.summary}, folder / "start_times.png", title=title,
                           pdf=pdf)  # fmt: skip
    return [csv_file, *png]


def _evolution_files(folder: Path, info, probe, result, seed: int, pdf: bool) -> list[Path]:
    from fsar_bench.analysis.figures import plot_evolution_tsne

    title = f"{info.name}: evolution vectors ({len(result.p)} videos)"
    try:
        return plot_evolution_tsne(result.p, result.starts, folder / "tsne_evolution.png", title,
                                   seed=seed, pdf=pdf)  # fmt: skip
    except ValueError as err:
        typer.echo(f"t-SNE of the evolution vectors skipped: {err}", err=True)
        return []


def _alignment_files(folder, info, root, cache, name, checkpoint, episode, features, sets,
                     variant, missing, device, pdf) -> list[Path]:  # fmt: skip
    """TA2N Fig. 8: t-SNE of a trained method's embeddings on seeded test episodes."""
    from fsar_bench.analysis.alignment import alignment_panels, load_method
    from fsar_bench.analysis.figures import plot_alignment_tsne
    from fsar_bench.data.index import load_index
    from fsar_bench.episodes import EpisodeSpec
    from fsar_bench.features.backbones import pick_device
    from fsar_bench.features.extract import ExtractConfig, ensure_features
    from fsar_bench.overrides import parse_sets

    backbone, size, frames, seed, random_init = features
    xcfg = ExtractConfig(backbone=backbone, frames=frames, size=size, seed=seed,
                         random_init=random_init)  # fmt: skip
    store = ensure_features(info, root, cache, xcfg, ("test",), variant=variant,
                            missing=missing)["test"]  # fmt: skip
    index = load_index(info, root, cache, variant, missing, splits=("test",))["test"]
    method = load_method(name, store.meta.channels, checkpoint, parse_sets(sets).get(name, {}))
    spec = EpisodeSpec(info.name, "test", *episode, seed, frames, variant=variant)
    panels = alignment_panels(method, store, index, spec, pick_device(device))
    try:
        return plot_alignment_tsne(panels, folder, f"{info.name} {name}", seed=seed, pdf=pdf)
    except ValueError as err:
        raise FsarError(f"no alignment t-SNE for {name} on {info.name}: {err}") from err


def aem(
    dataset: str = DatasetArg, out: Path = Out, pdf: bool = Pdf, probe_mode: str = ProbeMode,
    sets: list[str] = Sets, seed: int = Seed, backbone: str = Backbone, size: int | None = Size,
    frames: int = Frames, random_init: bool = RandomInit, device: str | None = Device,
    workers: int | None = Workers, data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir, missing: str = Missing, variant: str = Variant,
) -> None:  # fmt: skip
    """Train or load the TSM probe; print the AEM score and start times; write all files."""
    from fsar_bench.analysis.misalignment import write_per_class_csv

    info, _, _, probe, result = _measure(
        dataset, probe_mode, sets, seed, backbone, size, frames, random_init, device, workers,
        data_root, cache_dir, missing, variant,
    )  # fmt: skip
    folder = out / info.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aem.json").write_text(json.dumps(_clean(result.report), indent=1) + "\n")
    write_per_class_csv(folder / "aem_per_class.csv", result)
    _start_files(folder, info, probe, result, pdf)
    _evolution_files(folder, info, probe, result, seed, pdf)
    report = result.report
    parts = [_probe_text(report["probe"]), _aem_text(report), _start_text(report),
             _truth_text(report.get("ground_truth")), _onset_text(report)]  # fmt: skip
    typer.echo("\n".join(p for p in parts if p) + f"\nfiles: {folder}")


def start_times(
    dataset: str = DatasetArg, out: Path = Out, pdf: bool = Pdf, probe_mode: str = ProbeMode,
    sets: list[str] = Sets, seed: int = Seed, backbone: str = Backbone, size: int | None = Size,
    frames: int = Frames, random_init: bool = RandomInit, device: str | None = Device,
    workers: int | None = Workers, data_root: Path | None = DataRoot,
    cache_dir: Path | None = CacheDir, missing: str = Missing, variant: str = Variant,
) -> None:  # fmt: skip
    """Action start-time distribution (TA2N Fig. 2) from the dataset's TSM probe."""
    info, _, _, probe, result = _measure(
        dataset, probe_mode, sets, seed, backbone, size, frames, random_init, device, workers,
        data_root, cache_dir, missing, variant,
    )  # fmt: skip
    folder = out / info.name
    _start_files(folder, info, probe, result, pdf)
    report = result.report
    parts = [_probe_text(report["probe"]), _start_text(report),
             _truth_text(report.get("ground_truth")), _onset_text(report)]  # fmt: skip
    typer.echo("\n".join(p for p in parts if p) + f"\nfiles: {folder}")


def tsne(
    dataset: str = DatasetArg, out: Path = Out, pdf: bool = Pdf, probe_mode: str = ProbeMode,
    method: str | None = typer.Option(None, help="Also plot embeddings before/after alignment "
                                      "(TA2N Fig. 8) of this method (ta2n)."),
    checkpoint: Path | None = typer.Option(None, help="The method's weights (best.safetensors)."),
    way: int = typer.Option(5), shot: int = typer.Option(1),
    query: int = typer.Option(10, help="Queries per class of the plotted episode(s)."),
    episodes: int = typer.Option(1, help="Test episodes plotted together."),
    sets: list[str] = typer.Option([], "--set", help="probe.F=V or METHOD.F=V (method config)."),
    seed: int = Seed, backbone: str = Backbone, size: int | None = Size, frames: int = Frames,
    random_init: bool = RandomInit, device: str | None = Device, workers: int | None = Workers,
    data_root: Path | None = DataRoot, cache_dir: Path | None = CacheDir,
    missing: str = Missing, variant: str = Variant,
) -> None:  # fmt: skip
    """t-SNE of the evolution vectors (TA2N Fig. 3); with --method, of embeddings (Fig. 8)."""
    from fsar_bench.methods import METHODS

    if method is not None and checkpoint is None:
        raise FsarError("--method needs --checkpoint PATH (a best.safetensors of that method)")
    name = METHODS.get(method).name if method else None
    info, root, cache, probe, result = _measure(
        dataset, probe_mode, sets, seed, backbone, size, frames, random_init, device, workers,
        data_root, cache_dir, missing, variant, extra_sections=(name,) if name else (),
    )  # fmt: skip
    folder = out / info.name
    files = _evolution_files(folder, info, probe, result, seed, pdf)
    if name:
        files += _alignment_files(
            folder, info, root, cache, name, checkpoint, (way, shot, query, episodes),
            (backbone, size, frames, seed, random_init), sets, variant, missing, device, pdf,
        )  # fmt: skip
    typer.echo(f"{_probe_text(result.report['probe'])}\nwrote: " + ", ".join(map(str, files)))
