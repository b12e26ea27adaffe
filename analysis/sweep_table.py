"""Table, rank correlations and files of a single-factor sweep (:mod:`~.analysis.sweep`).

Files under ``OUT/sweep-<factor>/``:

* ``sweep.csv``: one row per level, method and shot: accuracy (mean, 95% half-width), order
  sensitivity (reversed / shuffled minus original, paired), the alignment gain of that shot, the
  probe's AEM (Eq. (10) as printed, bootstrap interval, confident subset, within class), the
  ground-truth references, and start-time errors against the truth (TA2N rule, onset);
* ``sweep.json``: the same rows, the rank correlations and the levels' full points;
* figures (``sweep_accuracy``, ``sweep_aem``, ``sweep_order``, ``sweep_start_error``:
  :mod:`fsar_bench.analysis.sweep_figures`).

Rank correlations (Spearman, ``scipy.stats.spearmanr``; ``None`` when either side is constant or
fewer than three levels): the probe's AEM with the level's position in the order given (the user
lists levels from least to most misaligned) and with each ground-truth reference.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from fsar_bench.files import atomic_open, dumps, write_text


def _get(d: dict | None, *keys):
    for k in keys:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def _order_cols(order: dict | None) -> dict:
    out = {}
    for mode in ("reverse", "shuffle"):
        diff = _get(order, mode, "minus_original") or {}
        out[f"{mode}_minus_original"] = diff.get("mean")
        out[f"{mode}_ci95"] = diff.get("ci95")
    return out


def _level_cols(point: dict) -> dict:
    """The columns shared by every method of one level."""
    aem, st = point["aem"], point["start_spread"]
    lo, hi = (aem.get("interval_95") or [None, None])[:2]
    return {
        "aem_eq10": aem["eq10"],
        "aem_lo": lo,
        "aem_hi": hi,
        "aem_confident": aem["confident"],
        "aem_within_class": aem["within_class"],
        "aem_reference_progress": aem["reference_progress"],
        "aem_reference_warp": aem["reference_warp"],
        "probe_accuracy": aem["probe_accuracy"],
        "ta2n_start_std_steps": st["ta2n"]["std_steps"],
        "ta2n_never_share": st["ta2n"]["never_share"],
        "ta2n_start_mae_steps": _get(st, "ta2n", "error", "mae_steps"),
        "ta2n_start_spearman": _get(st, "ta2n", "error", "spearman_rho"),
        "onset_mae_steps": _get(st, "onset", "error", "mae_steps"),
        "onset_spearman": _get(st, "onset", "error", "spearman_rho"),
        "true_start_std_steps": _get(st, "truth", "std_steps"),
    }


def sweep_rows(levels: list[str], points: list[dict]) -> list[dict]:
    """One row per level, method and shot (see the module docstring)."""
    rows = []
    for level, point in zip(levels, points):
        shared = _level_cols(point)
        gains = {g["shot"]: g for g in point.get("alignment_gain", [])}
        for m in point["methods"]:
            gain = gains.get(m["shot"], {})
            rows.append(
                {
                    "level": level,
                    "dataset": point["dataset"],
                    "method": m["method"],
                    "shot": m["shot"],
                    "accuracy": m["accuracy"]["mean"],
                    "accuracy_ci95": m["accuracy"]["ci95"],
                    **_order_cols(m.get("order")),
                    "alignment_gain": gain.get("mean"),
                    "alignment_gain_ci95": gain.get("ci95"),
                    **shared,
                }
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


def rank_correlations(points: list[dict]) -> dict:
    """Spearman of the probe's AEM with the level order and with the references."""
    aem = [p["aem"]["eq10"] for p in points]
    order = list(range(len(points)))
    out = {"aem_vs_level": spearman(aem, order)}
    for ref in ("reference_progress", "reference_warp"):
        out[f"aem_vs_{ref}"] = spearman(aem, [p["aem"][ref] for p in points])
    out["confident_aem_vs_level"] = spearman([p["aem"]["confident"] for p in points], order)
    out["within_class_aem_vs_level"] = spearman([p["aem"]["within_class"] for p in points], order)
    out["aem_range"] = [min(aem), max(aem)] if aem else None
    return out


def write_sweep(
    folder: Path, factor: str, levels: list[str], points: list[dict], formats=("png",)
) -> list[Path]:
    """``sweep.csv``, ``sweep.json`` and the figures; returns the written files."""
    from fsar_bench.analysis.sweep_figures import plot_sweep

    rows = sweep_rows(levels, points)
    csv_path = folder / "sweep.csv"
    with atomic_open(csv_path) as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["level"])
        out.writeheader()
        out.writerows(rows)
    summary = {
        "factor": factor,
        "levels": levels,
        "rank_correlations": rank_correlations(points),
        "rows": rows,
        "points": points,
    }
    json_path = folder / "sweep.json"
    write_text(json_path, dumps(summary, indent=1) + "\n")
    return [csv_path, json_path, *plot_sweep(factor, levels, rows, folder, formats)]
