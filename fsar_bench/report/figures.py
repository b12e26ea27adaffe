"""Report figures from stored results: per-class gain, accuracy against misalignment, start times.

* :func:`plot_class_gain` (TA2N Fig. 9): per test class, the accuracy of each method minus the
  baseline's, on the same episodes (same manifest hash). A query's class is read from the
  manifest (label ``n`` is the episode's ``n``-th class; queries are class-major, ``Q`` per
  class) and its prediction from ``pred`` in ``episodes.jsonl``.
* :func:`plot_misalignment_curve`: accuracy (mean ± 95% interval) on the synthetic presets
  ``synthetic-none/low/mid/high``, one line per method, one panel per shot; the measured AEM of
  a preset is added to its tick label when the analysis has scored it.
* :func:`plot_start_times`: the analysis' start-time distributions (TA2N Fig. 2), drawn by
  :func:`fsar_bench.analysis.measures.figures.plot_start_times` from the summaries in ``aem.json``.

Figures are drawn in the paper style of :mod:`fsar_bench.presentation.figures` (no pyplot
figures, no global style change), sized for a paper column (3.4 in) or page (6.8 in), saved at
300 dpi (PNG by default).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fsar_bench.data.synthetic_config import LEVELS
from fsar_bench.episodes.manifest import Manifest, load_manifest
from fsar_bench.presentation.figures import paper_figure, save_data, save_figure
from fsar_bench.report.tables import by_method, method_order
from fsar_bench.results.store import read_records
from fsar_bench.results.summary import RunSummary

if TYPE_CHECKING:
    from fsar_bench.analysis.measures.results import MisalignmentReport


def find_manifest(summary: RunSummary) -> Manifest:
    """The test manifest of a run, found by its SHA-256.

    ``manifest_file`` of the summary when it still holds that hash, else the file with it in
    ``<runs>/<dataset>/manifests`` (results copied or moved elsewhere).
    """
    candidates = [Path(summary.manifest_file)] if summary.manifest_file else []
    candidates += sorted((Path(summary.dir).parent / "manifests").glob("*.json"))
    for path in candidates:
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == summary.manifest:
            return load_manifest(path)
    raise FileNotFoundError(f"test manifest {summary.manifest[:12]} of {summary.dir}")


def per_class_accuracy(summary: RunSummary) -> pd.DataFrame:
    """Per test class: ``class, correct, queries, accuracy`` (percent) of one run."""
    manifest = find_manifest(summary)
    records = read_records(summary.records_file, summary.setting.episodes, repair=False)
    episodes = manifest.episodes[: len(records)]
    q = len(episodes[0]["query"][0])
    classes = np.array([ep["classes"] for ep in episodes]).repeat(q, axis=1)  # [E, N*Q]
    way = classes.shape[1] // q
    labels = np.tile(np.arange(way).repeat(q), (len(episodes), 1))  # [E, N*Q]
    correct = np.array([r["pred"] for r in records]) == labels  # [E, N*Q]
    if correct.sum() != sum(r["correct"] for r in records):
        raise ValueError(f"{summary.dir}: predictions disagree with the manifest's labels")
    df = pd.DataFrame({"class": classes.ravel(), "correct": correct.ravel().astype(int)})
    out = df.groupby("class")["correct"].agg(correct="sum", queries="count").reset_index()
    return out.assign(accuracy=100.0 * out["correct"] / out["queries"])


def class_gain(run: RunSummary, base: RunSummary) -> pd.DataFrame:
    """``class, accuracy, baseline, gain`` (points) of ``run`` over ``base`` on one manifest."""
    if run.manifest != base.manifest:
        raise ValueError("per-class gain needs two runs on the same manifest")
    a, b = per_class_accuracy(run), per_class_accuracy(base)
    df = a.merge(b, on="class", suffixes=("", "_base"))
    return df.assign(baseline=df["accuracy_base"], gain=df["accuracy"] - df["accuracy_base"])[
        ["class", "queries", "accuracy", "baseline", "gain"]
    ]


def plot_class_gain(
    gains: dict[str, pd.DataFrame], baseline: str, title: str, stem: Path, formats=("png",)
) -> list[Path]:
    """Horizontal bars of per-class gain, one panel per method, classes sorted by mean gain.

    Args:
        gains: method label -> :func:`class_gain` table.
        baseline: name of the baseline, for the axis label.
        title: figure title (dataset and setting).
        stem: output path without suffix.
        formats: file formats.
    """
    order = pd.concat(gains.values()).groupby("class")["gain"].mean().sort_values().index
    height = 0.9 + 0.14 * len(order)
    with paper_figure(min(6.8, 1.4 + 1.8 * len(gains)), height) as fig:
        axes = fig.subplots(1, len(gains), sharex=True, sharey=True, squeeze=False)[0]
        for ax, (label, g) in zip(axes, gains.items()):
            g = g.set_index("class").loc[order]
            colours = np.where(g["gain"] >= 0, "#2a9d8f", "#e76f51")
            ax.barh(np.arange(len(g)), g["gain"], color=colours)
            ax.axvline(0, color="0.3", lw=0.6)
            ax.set_yticks(np.arange(len(g)), [f"{c} (n={n})" for c, n in g["queries"].items()])
            ax.set_title(label)
        size = axes[0].yaxis.label.get_size()
        fig.supxlabel(f"per-class accuracy gain over {baseline} (percentage points)", size=size)
        fig.suptitle(title)
        return save_figure(fig, stem, formats)


def misalignment_curve(df: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``df`` (main runs) on the synthetic presets, with their ``level``."""
    level = df["dataset"].str.removeprefix("synthetic-")
    keep = df["dataset"].str.startswith("synthetic-") & level.isin(LEVELS)
    return df[keep].assign(level=level[keep])


def plot_misalignment_curve(
    df: pd.DataFrame, aem: dict[str, float], stem: Path, formats=("png",)
) -> list[Path]:
    """Accuracy against the synthetic misalignment level: a line per method, a panel per shot.

    Args:
        df: :func:`misalignment_curve` rows (``label, level, shot, mean, ci95``).
        aem: dataset -> measured AEM (the mean pairwise cosine distance reading, the one
            consistent with TA2N's published values), shown under the ticks.
        stem: output path without suffix.
        formats: file formats.
    """
    import seaborn as sns

    levels = [lv for lv in LEVELS if lv in set(df["level"])]
    scores = [aem.get(f"synthetic-{lv}") for lv in levels]
    known = any(a is not None for a in scores)  # then every tick gets a second line
    ticks = [
        lv + (f"\nAEM {a:.2f}" if a is not None else "\nAEM n/a") * known
        for lv, a in zip(levels, scores)
    ]
    shots = sorted(set(df["shot"]))
    labels = sorted(set(df["label"]), key=method_order)
    colours = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    ways = sorted(set(df["way"]))
    with paper_figure(min(6.8, 0.6 + 2.6 * len(shots)), 2.6) as fig:
        axes = fig.subplots(1, len(shots), sharey=True, squeeze=False)[0]
        for ax, shot in zip(axes, shots):
            for i, label in enumerate(labels):
                g = df[(df["shot"] == shot) & (df["label"] == label)]
                g = g.assign(x=[levels.index(lv) for lv in g["level"]]).sort_values("x")
                dodge = 0.06 * (i - (len(labels) - 1) / 2)  # keep error bars apart
                ax.errorbar(
                    g["x"] + dodge,
                    g["mean"],
                    yerr=g["ci95"].fillna(0),
                    marker="o",
                    ms=3,
                    capsize=2,
                    color=colours[label],
                    label=label,
                )
            if len(ways) == 1:
                ax.axhline(100 / ways[0], ls="--", lw=0.8, color="0.5", label="chance")
            ax.set_xticks(range(len(levels)), ticks)
            ax.set_title(f"{ways[0]}-way {shot}-shot" if len(ways) == 1 else f"{shot}-shot")
        axes[0].set_ylabel("accuracy (%), mean ± 95% CI")
        fig.supxlabel("synthetic misalignment level", size=axes[0].yaxis.label.get_size())
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
        return save_figure(fig, stem, formats)


def plot_start_times(
    reports: dict[str, MisalignmentReport], folder: Path, formats=("png",)
) -> list[Path]:
    """Start-time distributions of the analysed datasets, one figure per frame count ``T``."""
    from fsar_bench.analysis.measures.figures import plot_start_times as draw

    by_t: dict[int, dict] = {}
    for dataset, report in reports.items():
        summary = report.start_times
        by_t.setdefault(len(summary.counts), {})[dataset] = summary
    out: list[Path] = []
    for t, summaries in sorted(by_t.items()):
        name = "start_times" if len(by_t) == 1 else f"start_times_{t}frames"
        for fmt in formats:
            out += draw(summaries, folder / f"{name}.{fmt}")
    return out


def write_figures(
    df: pd.DataFrame,
    reports: dict[str, MisalignmentReport],
    folder: Path,
    baseline: str,
    formats=("png",),
) -> tuple[list[Path], list[str]]:
    """Every figure the results allow; returns the files and a note per figure left out.

    Args:
        df: :func:`fsar_bench.report.runs.main_runs` rows.
        reports: the analysis' ``aem.json`` reports by dataset.
        folder: output folder.
        baseline: method the per-class gains are taken against.
        formats: file formats.
    """
    files, skipped = [], []
    folder.mkdir(parents=True, exist_ok=True)
    for (dataset, way, shot, _), g in df.groupby(["dataset", "way", "shot", "manifest"]):
        base = g[g["method"] == baseline].sort_values("label")
        others = g[g["method"] != baseline].sort_values("label", key=by_method)
        if len(base) == 0 or len(others) == 0:
            continue
        b = base.iloc[0]["summary"]
        try:
            gains = {r["label"]: class_gain(r["summary"], b) for _, r in others.iterrows()}
        except FileNotFoundError as err:
            skipped.append(f"per-class gain on {dataset} {shot}-shot: {err} not found")
            continue
        stem = folder / f"class_gain_{dataset}_{way}w{shot}s"
        data = pd.concat(gains, names=["method"]).reset_index(0)
        files.append(save_data(data, stem))
        title = f"Per-class gain over {baseline}: {dataset}, {way}-way {shot}-shot"
        files += plot_class_gain(gains, baseline, title, stem, formats)
    if not files and not skipped:
        skipped.append(f"per-class gain: needs {baseline} and another method on one manifest")
    curve = misalignment_curve(df)
    if curve["level"].nunique() >= 2:
        aem = {
            d: r.mean_pairwise_cosine_distance
            for d, r in reports.items()
            if math.isfinite(r.mean_pairwise_cosine_distance)
        }
        files += plot_misalignment_curve(curve, aem, folder / "accuracy_vs_misalignment", formats)
    else:
        skipped.append(
            "accuracy against misalignment: needs runs on at least two of "
            + ", ".join(f"synthetic-{lv}" for lv in LEVELS)
        )
    starts = plot_start_times(reports, folder, formats)
    if not starts:
        skipped.append("start times: no <analysis>/<dataset>/aem.json with start times")
    return files + starts, skipped
