"""Figures of a single-factor sweep, from :func:`fsar_bench.analysis.sweep.table.sweep_rows`.

Standalone :class:`matplotlib.figure.Figure` objects (Agg), 200 dpi; the x axis is the level in
the order given (categorical):

* ``sweep_accuracy``: test accuracy (mean ± 95% interval) per method and shot;
* ``sweep_aem``: the probe's AEM (Eq. (10) as printed, bootstrap 95% interval), its confident
  and within-class readings, and the ground-truth references (``progress``, ``warp``);
* ``sweep_order``: the alignment gain (OTAM minus OTAM ``matching=mean``) and each method's
  accuracy change with reversed query frames, paired 95% intervals, per shot;
* ``sweep_start_error``: mean absolute error (sampled steps) of TA2N's start rule and of the
  confidence onset against the true start steps (synthetic ground truth; empty when the factor
  does not move the start).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fsar_bench.analysis.sweep.results import SweepRow
from fsar_bench.presentation.figures import save_figure


def _float(values) -> np.ndarray:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _column(rows: dict[str, SweepRow], levels: list[str], name: str) -> np.ndarray:
    """``[levels]`` column ``name`` of each level's row (NaN where a level has none)."""
    return _float(getattr(rows[lv], name) if lv in rows else None for lv in levels)


def _by_level(rows: list[SweepRow], levels: list[str]) -> list[SweepRow]:
    """The first row of each level (level-wide columns)."""
    first = {}
    for r in rows:
        first.setdefault(r.level, r)
    return [first[lv] for lv in levels if lv in first]


def _accuracy(ax, rows: list[SweepRow], levels: list[str]) -> None:
    x = np.arange(len(levels))
    for method, shot in dict.fromkeys((r.method, r.shot) for r in rows):
        mine = {r.level: r for r in rows if (r.method, r.shot) == (method, shot)}
        y = _column(mine, levels, "accuracy")
        e = _column(mine, levels, "accuracy_ci95")
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=f"{method} {shot}-shot")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)


def _aem(ax, per_level: list[SweepRow]) -> None:
    x = np.arange(len(per_level))
    y = _float(r.aem_eq10 for r in per_level)
    lo, hi = _float(r.aem_lo for r in per_level), _float(r.aem_hi for r in per_level)
    ax.errorbar(
        x,
        y,
        yerr=np.vstack([y - lo, hi - y]),
        marker="o",
        capsize=3,
        label="probe AEM (95% bootstrap)",
    )
    for key, label, style in (
        ("aem_confident", "probe, confident subset", "s--"),
        ("aem_within_class", "probe, within class", "^--"),
        ("aem_reference_progress", "ground truth: progress", "k-"),
        ("aem_reference_warp", "ground truth: warp", "k:"),
    ):
        ax.plot(x, _float(getattr(r, key) for r in per_level), style, label=label)
    ax.set_ylabel("AEM, Eq. (10) as printed")
    ax.legend(fontsize=7)


def _order(ax, rows: list[SweepRow], levels: list[str]) -> None:
    x = np.arange(len(levels))
    for shot in dict.fromkeys(r.shot for r in rows):
        first = {r.level: r for r in rows if r.shot == shot}
        y = _column(first, levels, "alignment_gain")
        e = _column(first, levels, "alignment_gain_ci95")
        ax.errorbar(x, y, yerr=e, marker="o", capsize=3, label=f"alignment gain {shot}-shot")
    for method, shot in dict.fromkeys((r.method, r.shot) for r in rows):
        mine = {r.level: r for r in rows if (r.method, r.shot) == (method, shot)}
        y = _column(mine, levels, "reverse_minus_original")
        e = _column(mine, levels, "reverse_ci95")
        ax.errorbar(
            x,
            y,
            yerr=e,
            fmt="--",
            marker="s",
            capsize=3,
            label=f"{method} {shot}-shot: reversed - original",
        )
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_ylabel("paired difference (points)")
    ax.legend(fontsize=7)


def _start(ax, per_level: list[SweepRow]) -> None:
    x = np.arange(len(per_level))
    mae = _float(r.ta2n_rule_start_mae_steps for r in per_level)
    ax.plot(x, mae, "o-", label="TA2N rule p >= 0.5")
    ax.plot(x, _float(r.onset_mae_steps for r in per_level), "s-", label="confidence onset")
    ax.set_ylabel("start error vs truth (MAE, sampled steps)")
    ax.legend(fontsize=7)


def plot_sweep(
    factor: str, levels: list[str], rows: list[SweepRow], folder: Path, formats=("png",)
) -> list[Path]:
    """Write the four figures; returns the written files."""
    from matplotlib.figure import Figure

    per_level = _by_level(rows, levels)
    shown = [r.level for r in per_level]
    files = []
    for name, draw, data, names in (
        ("sweep_accuracy", _accuracy, rows, levels),
        ("sweep_aem", _aem, per_level, None),
        ("sweep_order", _order, rows, levels),
        ("sweep_start_error", _start, per_level, None),
    ):
        fig = Figure(figsize=(5.5, 3.8), layout="constrained")
        ax = fig.add_subplot()
        draw(ax, data, names) if names is not None else draw(ax, data)
        ticks = levels if names is not None else shown
        ax.set_xticks(np.arange(len(ticks)), ticks)
        ax.set_xlabel(f"{factor} level")
        ax.set_title(f"synthetic {factor} sweep", fontsize=9)
        files += save_figure(fig, folder / name, formats, dpi=200)
    return files
