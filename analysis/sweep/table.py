"""Table, rank correlations and files of a single-factor sweep (:mod:`~.analysis.sweep.points`).

Files under ``OUT/sweep-<factor>/``:

* ``sweep.csv``: one row per level, method and shot: accuracy (mean, 95% half-width), order
  sensitivity (reversed / shuffled minus original, paired), the alignment gain of that shot, the
  probe's AEM (Eq. (10) as printed, bootstrap interval, confident subset, within class), the
  ground-truth references, and start-time errors against the truth (TA2N rule, onset);
* ``sweep.json``: the same rows, the rank correlations and the levels' full points;
* figures (``sweep_accuracy``, ``sweep_aem``, ``sweep_order``, ``sweep_start_error``:
  :mod:`fsar_bench.analysis.sweep.figures`).

Rank correlations (Spearman, ``scipy.stats.spearmanr``; ``None`` when either side is constant or
fewer than three levels): the probe's AEM with the level's position in the order given (the user
lists levels from least to most misaligned) and with each ground-truth reference.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from fsar_bench.analysis.sweep.results import (
    OrderSensitivity,
    ProfilePoint,
    RankCorrelations,
    StepSpread,
    SweepResult,
    SweepRow,
)
from fsar_bench.files import atomic_open, dumps, write_text


def _order_cols(order: OrderSensitivity | None) -> dict[str, float | None]:
    out = {}
    for mode in ("reverse", "shuffle"):
        diff = getattr(order, mode).minus_original.diff if order else None
        out[f"{mode}_minus_original"] = diff.mean if diff else None
        out[f"{mode}_ci95"] = diff.ci95 if diff else None
    return out


def _error(s: StepSpread | None, name: str) -> float | None:
    """A field of the spread's error against the truth, or ``None``."""
    return getattr(s.error, name) if s and s.error else None


def _level_cols(point: ProfilePoint) -> dict[str, float | None]:
    """The columns shared by every method of one level."""
    aem, st = point.aem, point.start_spread
    lo, hi = aem.interval_95 or (None, None)
    return {
        "aem_eq10": aem.eq10,
        "aem_lo": lo,
        "aem_hi": hi,
        "aem_confident": aem.confident,
        "aem_within_class": aem.within_class,
        "aem_reference_progress": aem.reference_progress,
        "aem_reference_warp": aem.reference_warp,
        "probe_accuracy": aem.probe_accuracy,
        "ta2n_rule_start_std_steps": st.ta2n_rule.std_steps,
        "ta2n_rule_never_share": st.ta2n_rule.never_share,
        "ta2n_rule_start_mae_steps": _error(st.ta2n_rule, "mae_steps"),
        "ta2n_rule_start_spearman": _error(st.ta2n_rule, "spearman_rho"),
        "onset_mae_steps": _error(st.onset, "mae_steps"),
        "onset_spearman": _error(st.onset, "spearman_rho"),
        "true_start_std_steps": st.truth.std_steps if st.truth else None,
    }


def sweep_rows(levels: list[str], points: list[ProfilePoint]) -> list[SweepRow]:
    """One row per level, method and shot (see the module docstring)."""
    rows = []
    for level, point in zip(levels, points):
        shared = _level_cols(point)
        gains = {g.shot: g.difference.diff for g in point.alignment_gain}
        for m in point.methods:
            gain = gains.get(m.shot)
            rows.append(
                SweepRow(
                    level=level,
                    dataset=point.dataset,
                    method=m.method,
                    shot=m.shot,
                    accuracy=m.accuracy.mean,
                    accuracy_ci95=m.accuracy.ci95,
                    **_order_cols(m.order),
                    alignment_gain=gain.mean if gain else None,
                    alignment_gain_ci95=gain.ci95 if gain else None,
                    **shared,
                )
            )
    return rows


def spearman(x: list, y: list) -> float | None:
    """Spearman's rho of paired values (``None`` entries dropped), ``None`` if undefined."""
    from scipy import stats

    pairs = [(a, b) for a, b in zip(x, y) if a is not None and b is not None]
    if len(pairs) < 3:
        return None
    a, b = np.array(pairs, dtype=np.float64).T
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.spearmanr(a, b).statistic)


def rank_correlations(points: list[ProfilePoint]) -> RankCorrelations:
    """Spearman of the probe's AEM with the level order and with the references."""
    aem = [p.aem.eq10 for p in points]
    order = list(range(len(points)))
    return RankCorrelations(
        aem_vs_level=spearman(aem, order),
        aem_vs_reference_progress=spearman(aem, [p.aem.reference_progress for p in points]),
        aem_vs_reference_warp=spearman(aem, [p.aem.reference_warp for p in points]),
        confident_aem_vs_level=spearman([p.aem.confident for p in points], order),
        within_class_aem_vs_level=spearman([p.aem.within_class for p in points], order),
        aem_range=(min(aem), max(aem)) if aem else None,
    )


def write_sweep(
    folder: Path, factor: str, levels: list[str], points: list[ProfilePoint], formats=("png",)
) -> list[Path]:
    """``sweep.csv``, ``sweep.json`` and the figures; returns the written files."""
    from fsar_bench.analysis.sweep.figures import plot_sweep

    rows = sweep_rows(levels, points)
    csv_path = folder / "sweep.csv"
    with atomic_open(csv_path) as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0].to_json()) if rows else ["level"])
        out.writeheader()
        out.writerows(r.to_json() for r in rows)
    result = SweepResult(
        factor=factor,
        levels=tuple(levels),
        rank_correlations=rank_correlations(points),
        rows=tuple(rows),
        points=tuple(points),
    )
    json_path = folder / "sweep.json"
    write_text(json_path, dumps(result.to_json(), indent=1) + "\n")
    return [csv_path, json_path, *plot_sweep(factor, levels, rows, folder, formats)]
