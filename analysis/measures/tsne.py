"""t-SNE embeddings and scatter plots (TA2N Fig. 3: evolution vectors; Fig. 8: embeddings).

Embedding uses scikit-learn's :class:`~sklearn.manifold.TSNE` (PCA initialisation, Barnes-Hut),
seeded, so the same input and seed give the same points. t-SNE needs the perplexity to be
smaller than the number of points; following the rule of the original Barnes-Hut code
(``3 * perplexity <= V - 1``), the perplexity is clamped to ``(V - 1) / 3`` for small ``V``.

Plots are drawn on a standalone :class:`matplotlib.figure.Figure` (Agg rendering, no pyplot
state, no display needed), sized for a paper column, and saved as PNG (and optionally PDF).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from fsar_bench.presentation.figures import save_figure_at

DEFAULT_PERPLEXITY = 30.0
"""scikit-learn's default perplexity, used when none is given."""

MAX_LEGEND_ENTRIES = 10
"""Above this many label values the legend is omitted (colours stay)."""


def effective_perplexity(n_points: int, perplexity: float | None = None) -> float:
    """``min(perplexity or 30, (n_points - 1) / 3)``: the value :func:`tsne_embed` uses."""
    if n_points < 2:
        raise ValueError(f"t-SNE needs at least 2 points, got {n_points}")
    requested = DEFAULT_PERPLEXITY if perplexity is None else float(perplexity)
    if requested <= 0:
        raise ValueError(f"perplexity must be positive, got {requested}")
    return min(requested, (n_points - 1) / 3)


def tsne_embed(x: ArrayLike, seed: int, perplexity: float | None = None) -> np.ndarray:
    """Embed ``V`` points in 2-D with t-SNE.

    Args:
        x: ``[V, F]`` features (e.g. evolution vectors ``[V, T]``), ``V >= 2``.
        seed: random state; the output is a deterministic function of ``x`` and ``seed``.
        perplexity: requested perplexity (default 30), clamped by :func:`effective_perplexity`.

    Returns:
        ``[V, 2]`` float64 coordinates.
    """
    from sklearn.manifold import TSNE

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected [V, F] features, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    tsne = TSNE(
        n_components=2,
        perplexity=effective_perplexity(x.shape[0], perplexity),
        init="pca",
        random_state=seed,
    )
    return tsne.fit_transform(x).astype(np.float64)


def plot_tsne(
    points: ArrayLike,
    labels: Sequence | ArrayLike,
    path: str | Path,
    title: str,
    *,
    style: Sequence | ArrayLike | None = None,
    pdf: bool = False,
    figsize: tuple[float, float] = (3.4, 3.0),
) -> list[Path]:
    """Scatter plot of 2-D points coloured by label, saved at 300 dpi.

    Args:
        points: ``[V, 2]`` coordinates from :func:`tsne_embed`.
        labels: ``[V]`` colour groups (class, dataset, ...); listed in the legend only if at
            most :data:`MAX_LEGEND_ENTRIES` distinct values.
        path: output PNG path (parent folders are created).
        title: figure title.
        style: optional ``[V]`` marker groups (e.g. "query" / "prototype" for TA2N Fig. 8),
            always listed in the legend.
        pdf: also write a PDF next to the PNG.
        figsize: inches; the default fits one column of a two-column paper.

    Returns:
        The written files.
    """
    from matplotlib.figure import Figure

    points, labels = _checked(points, labels)
    order = [str(v) for v in np.unique(labels)]  # categorical, in sorted (numeric) order
    kinds = None if style is None else np.asarray(style).astype(str)
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    _scatter(ax, points, labels, order, kinds)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    _legend(ax, order if len(order) <= MAX_LEGEND_ENTRIES else [], kinds)
    return save_figure_at(fig, path, pdf)


def _checked(points: ArrayLike, labels: Sequence | ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``points [V, 2]`` as float64 and ``labels [V]``, or a ``ValueError``."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"expected [V, 2] points, got shape {points.shape}")
    labels = np.asarray(labels)
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels must be [V] = [{points.shape[0]}], got shape {labels.shape}")
    return points, labels


def _scatter(ax, points: np.ndarray, labels: np.ndarray, order: list[str], kinds) -> None:
    """seaborn scatter of ``points [V, 2]``, hue = label (in ``order``), style = kind."""
    import seaborn as sns

    sns.scatterplot(
        x=points[:, 0],
        y=points[:, 1],
        hue=labels.astype(str),
        hue_order=order,
        style=kinds,
        palette="tab10" if len(order) <= MAX_LEGEND_ENTRIES else "husl",
        s=12,
        linewidth=0,
        alpha=0.8,
        legend="full",
        ax=ax,
    )


def _legend(ax, hue_entries: list[str], kinds: np.ndarray | None) -> None:
    """Keep the legend entries of ``hue_entries`` and of every marker group; none -> no legend."""
    keep = set(hue_entries) | (set() if kinds is None else set(kinds.tolist()))
    handles, texts = ax.get_legend_handles_labels()
    pairs = [(h, t) for h, t in zip(handles, texts, strict=True) if t in keep]
    if pairs:
        ax.legend(*zip(*pairs, strict=True), fontsize=6, markerscale=0.8, frameon=False)
    elif ax.get_legend() is not None:
        ax.get_legend().remove()
