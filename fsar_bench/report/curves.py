"""Learning curves: validation accuracy against training episodes, from the stored summaries.

One figure per dataset (``learning_curves_<dataset>``), one panel per (way, shot), one line per
method: the ``train_history`` of each run's summary (``step``, ``val``), with the selected
(best) validation marked by a dot and the end of training by a cross for a plateau stop or a
square for a spent budget (the summary's ``stop_reason``). A reader sees whether every method
converged. The plotted values are also written as CSV beside the figure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fsar_bench.presentation.figures import paper_figure, save_data, save_figure
from fsar_bench.report.tables import method_order

END_MARKERS = {"plateau": "x", "budget": "s"}


def curve_rows(df: pd.DataFrame) -> pd.DataFrame:
    """``dataset, way, shot, label, step, val, lr, stop_reason`` per validation of every run in
    ``df`` (main runs with ``label`` and ``summary``); runs without a history are left out."""
    rows = []
    for _, r in df.iterrows():
        s = r["summary"]
        for h in s.train_history:
            rows.append(
                {
                    "dataset": r["dataset"],
                    "way": r["way"],
                    "shot": r["shot"],
                    "label": r["label"],
                    "step": h["step"],
                    "val": h["val"],
                    "lr": h.get("lr"),
                    "stop_reason": s.stop_reason,
                }
            )
    cols = ["dataset", "way", "shot", "label", "step", "val", "lr", "stop_reason"]
    return pd.DataFrame(rows, columns=cols)


def plot_learning_curves(rows: pd.DataFrame, title: str, stem: Path, formats=("png",)):
    """Validation accuracy against training episodes; a panel per (way, shot).

    Args:
        rows: :func:`curve_rows` of one dataset.
        title: figure title. stem: output path without suffix. formats: file formats.
    """
    import seaborn as sns

    panels = sorted({(w, k) for w, k in zip(rows["way"], rows["shot"])})
    labels = sorted(set(rows["label"]), key=method_order)
    colours = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    with paper_figure(min(6.8, 0.6 + 2.6 * len(panels)), 2.6) as fig:
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
        for ax, (way, shot) in zip(axes, panels):
            for label in labels:
                g = rows[(rows["way"] == way) & (rows["shot"] == shot) & (rows["label"] == label)]
                if len(g) == 0:
                    continue
                g = g.sort_values("step")
                c = colours[label]
                ax.plot(g["step"], g["val"], lw=1, color=c, label=label)
                best = g.loc[g["val"].idxmax()]
                ax.plot(best["step"], best["val"], "o", ms=3, color=c)
                end = g.iloc[-1]
                marker = END_MARKERS.get(end["stop_reason"], "")
                if marker:
                    ax.plot(end["step"], end["val"], marker, ms=4, mfc="none", color=c)
            ax.axhline(100 / way, ls="--", lw=0.8, color="0.5", label="chance")
            ax.set_title(f"{way}-way {shot}-shot")
            ax.set_xlabel("training episodes")
        axes[0].set_ylabel("validation accuracy (%)")
        fig.suptitle(title)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper")
        return save_figure(fig, stem, formats)


def write_learning_curves(df: pd.DataFrame, folder: Path, formats=("png",)) -> list[Path]:
    """One learning-curve figure (and its CSV) per dataset of ``df`` (main runs)."""
    rows = curve_rows(df)
    out: list[Path] = []
    for dataset, g in rows.groupby("dataset"):
        stem = folder / f"learning_curves_{dataset}"
        out.append(save_data(g, stem))
        title = f"Learning curves on {dataset} ('x': plateau stop, square: budget spent)"
        out += plot_learning_curves(g, title, stem, formats)
    return out
