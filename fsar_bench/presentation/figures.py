"""Figures for papers: one style, one way to save them (the report's and the analyses').

Figures are standalone :class:`matplotlib.figure.Figure` objects (no pyplot state, no display),
drawn under a seaborn "paper" style applied only inside :func:`paper_figure`, and written by
:func:`save_figure` in each format asked for (PNG by default) next to each other.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

DPI = 300


@contextmanager
def paper_figure(width: float, height: float) -> Iterator:
    """A standalone figure (inches) with seaborn's paper style applied only inside the block."""
    import matplotlib
    import seaborn as sns
    from matplotlib.figure import Figure

    style = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=0.9)}
    with matplotlib.rc_context(style):
        yield Figure(figsize=(width, height), layout="constrained")


def save_figure(fig, stem: Path, formats: Sequence[str] = ("png",), dpi: int = DPI) -> list[Path]:
    """Write ``fig`` as ``<stem>.<format>`` for each format (folders created); returns the files.

    The format is appended to the name, never substituted for a suffix, so a stem such as
    ``class_gain_synthetic-evolution-0.5_5w1s`` keeps its ``0.5``.
    """
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = [stem.parent / f"{stem.name}.{fmt}" for fmt in formats]
    for path in out:
        fig.savefig(path, dpi=dpi)
    return out


def save_figure_at(fig, path: Path, pdf: bool = False, dpi: int = DPI) -> list[Path]:
    """``fig`` at ``path`` (its suffix names the format) and, with ``pdf``, as a PDF beside it."""
    path = Path(path)
    return save_figure(
        fig, path.with_suffix(""), (path.suffix[1:], *(("pdf",) if pdf else ())), dpi
    )
