"""Figures of the misalignment analyses: start times (TA2N Fig. 2) and t-SNE (Figs. 3 and 8).

All figures are drawn on standalone :class:`matplotlib.figure.Figure` objects (Agg, no pyplot
state), saved as PNG at 300 dpi and, with ``pdf=True``, as PDF next to it.

* :func:`plot_start_times`: share of videos per start frame (1-based, as in the paper) plus the
  "never reaches 0.5" bucket, one bar group per dataset.
* :func:`plot_evolution_tsne`: t-SNE of the evolution vectors ``p [V, T]``, coloured by start
  frame (the paper's Fig. 3 does not say what its colours are).
* :func:`plot_alignment_tsne`: t-SNE of query embeddings and class prototypes before and after
  alignment (Fig. 8), from the points of
  :func:`fsar_bench.analysis.measures.alignment.alignment_points`; one file per panel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fsar_bench.analysis.measures.start_times import NEVER, StartTimeSummary
from fsar_bench.analysis.measures.tsne import plot_tsne, tsne_embed
from fsar_bench.presentation.figures import save_figure_at


def embed(x: np.ndarray, seed: int) -> np.ndarray:
    """:func:`~fsar_bench.analysis.measures.tsne.tsne_embed`, refusing identical points.

    scikit-learn's Barnes-Hut t-SNE crashes the interpreter (segmentation fault) when every
    point is the same (its PCA initialisation divides by a zero spread).

    Raises:
        ValueError: all rows of ``x`` are equal.
    """
    x = np.asarray(x, dtype=np.float64)
    if len(x) and not np.ptp(x, axis=0).any():
        raise ValueError(f"all {len(x)} points are identical; t-SNE is undefined")
    return tsne_embed(x, seed)


def plot_start_times(
    summaries: dict[str, StartTimeSummary], path: Path, *, title: str = "", pdf: bool = False
) -> list[Path]:
    """Grouped bars: percentage of videos per start frame, one colour per dataset.

    Args:
        summaries: dataset name -> start-time summary (all with the same ``T``).
        path: PNG path.
        title: figure title (default: the threshold and the dataset names).
        pdf: also write a PDF.

    Returns:
        The written files.
    """
    from matplotlib.figure import Figure

    hists = {name: s.histogram() for name, s in summaries.items()}
    labels = next(iter(hists.values())).labels
    if any(h.labels != labels for h in hists.values()):
        raise ValueError("all summaries need the same number of frames")
    fig = Figure(figsize=(3.4, 2.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(hists)
    x = np.arange(len(labels))
    for k, (name, h) in enumerate(hists.items()):
        shown = f"{name} (n={summaries[name].n_videos})"
        ax.bar(
            x + (k - (len(hists) - 1) / 2) * width, np.array(h.fractions) * 100, width, label=shown
        )
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_xlabel("start frame (first p >= threshold)", fontsize=8)
    ax.set_ylabel("videos (%)", fontsize=8)
    ax.tick_params(labelsize=7)
    threshold = next(iter(summaries.values())).threshold
    ax.set_title(title or f"Action start time (p >= {threshold:g})", fontsize=8)
    ax.legend(fontsize=6, frameon=False)
    return save_figure_at(fig, path, pdf)


def start_labels(starts: np.ndarray) -> np.ndarray:
    """``[V]`` 0-based start steps -> labels ``"1" .. "T"`` and ``"never"``."""
    starts = np.asarray(starts)
    return np.where(starts == NEVER, "never", (starts + 1).astype(str))


def plot_evolution_tsne(
    p: np.ndarray, starts: np.ndarray, path: Path, title: str, *, seed: int = 0, pdf: bool = False
) -> list[Path]:
    """t-SNE of evolution vectors ``p [V, T]`` coloured by start frame (TA2N Fig. 3)."""
    points = embed(p, seed)  # [V, 2]
    return plot_tsne(points, start_labels(starts), path, title, pdf=pdf)


def plot_alignment_tsne(
    panels: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    folder: Path,
    title: str,
    *,
    seed: int = 0,
    pdf: bool = False,
) -> list[Path]:
    """One t-SNE file per panel (``before`` / ``after``), TA2N Fig. 8.

    Args:
        panels: name -> ``(features [P, F], class labels [P], kinds [P])`` with kinds
            ``"query"`` or ``"prototype"``.
        folder: output folder; files ``tsne_alignment_<name>.png``.
        title: prefix of each panel's title.

    Returns:
        The written files.
    """
    out: list[Path] = []
    for name, (features, labels, kinds) in panels.items():
        points = embed(features, seed)
        path = Path(folder) / f"tsne_alignment_{name}.png"
        out += plot_tsne(points, labels, path, f"{title}: {name} alignment", style=kinds, pdf=pdf)
    return out
