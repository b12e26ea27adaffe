"""Figures for papers: one style, one way to save them (the report's and the analyses').

Figures are standalone :class:`matplotlib.figure.Figure` objects (no pyplot state, no display),
drawn under a seaborn "paper" style applied only inside :func:`paper_figure`, and written by
:func:`save_figure` in each format asked for (PNG by default) next to each other, with their
data beside them (:func:`save_data`); every file is written atomically.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fsar_bench import files

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
    ``class_gain_synthetic-evolution-0.5_5w1s`` keeps its ``0.5``. Each file is written
    atomically (:func:`fsar_bench.files.save_figure`).
    """
    stem = Path(stem)
    return [files.save_figure(fig, stem.parent / f"{stem.name}.{fmt}", dpi=dpi) for fmt in formats]


def save_figure_at(fig, path: Path, pdf: bool = False, dpi: int = DPI) -> list[Path]:
    """``fig`` at ``path`` (its suffix names the format) and, with ``pdf``, as a PDF beside it."""
    path = Path(path)
    return save_figure(
        fig, path.with_suffix(""), (path.suffix[1:], *(("pdf",) if pdf else ())), dpi
    )


def save_data(data, stem: Path) -> Path:
    """A figure's data (a :class:`pandas.DataFrame`) as ``<stem>.csv``, written atomically."""
    path = Path(stem).parent / f"{Path(stem).name}.csv"
    with files.atomic_open(path) as fh:
        data.to_csv(fh, index=False)
    return path
