"""A dataset's misalignment profile: one row that says how misaligned it is and what alignment buys.

Columns (:func:`profile_row`; ``fsar-bench profile``, ``fsar-bench sweep``, and the ``profile``
table of ``fsar-bench report``):

* **start-time spread**: standard deviation (in sampled steps) of the start steps of the videos
  that have one, and the share that never start, for TA2N's rule (first sampled frame with
  ``p >= 0.5``, :mod:`fsar_bench.analysis.start_times`) and for the label-free confidence onset
  (:mod:`fsar_bench.analysis.onset`); on synthetic data also of the true start steps (the
  first sampled frame at or after the true start) and each estimator's error against them.
* **AEM, both readings**: Eq. (10) as printed with its bootstrap interval; the uncertainty-
  separated readings (the correctly and confidently classified videos, same-class pairs only,
  :mod:`fsar_bench.analysis.uncertainty`) and, on synthetic data, the ground-truth references
  (:mod:`fsar_bench.analysis.reference`: ``progress``, per-frame true progress, and ``warp``).
* **order sensitivity**: every trained method of the point re-evaluated from its run folder
  (:func:`~fsar_bench.analysis.alignment.method_from_run`: its recorded config and checkpoint)
  on its own test manifest with each query's frames reversed and shuffled
  (:mod:`fsar_bench.analysis.order`), paired episode by episode with the unperturbed
  evaluation of the same weights: ``perturbed - original`` (percentage points, 95% interval of
  the mean per-episode difference, :func:`fsar_bench.results.stats.paired_difference`).
* **alignment gain**: OTAM minus OTAM with its order-blind ``mean`` matching
  (``--set otam.matching=mean``: the mean of all frame-pair distances), both trained with the
  same recipe and evaluated on the same test manifest, paired per episode.

Analysis never reaches into a method: it reads run folders (:class:`RunSummary`) and rebuilds
trained methods from them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from fsar_bench.analysis.order import MODES, perturb_queries
from fsar_bench.errors import FsarError
from fsar_bench.results.stats import mean_ci, paired_difference
from fsar_bench.results.summary import RunSummary

GAIN_SETS = {"matching": "mean"}  # the order-blind OTAM of the alignment gain


def paired(a: np.ndarray, b: np.ndarray) -> dict:
    """``a - b`` on the same episodes: mean, 95% half-width, n, p-values, wins and losses."""
    d = paired_difference(a, b)
    return {
        "mean": d.diff.mean,
        "ci95": d.diff.ci95,
        "n": d.diff.n,
        "t_pvalue": d.t_pvalue,
        "wilcoxon_pvalue": d.wilcoxon_pvalue,
        "wins": d.wins,
        "losses": d.losses,
    }


def interval(acc: np.ndarray) -> dict:
    """Mean and 95% half-width of per-episode accuracies."""
    return dataclasses.asdict(mean_ci(acc))


def order_accuracies(method, manifest, load, *, device, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-episode accuracies ``[E]`` (percent) with the query frames in each order.

    Args:
        method: a trained method. manifest: its test episodes. load: ``load(ids) -> [V, T, ...]``.
        device: where to evaluate. seed: the shuffle seed (:func:`~fsar_bench.analysis.order.
            frame_order`).

    Returns:
        ``{"original": ..., "reverse": ..., "shuffle": ...}``, episodes in manifest order.
    """
    from fsar_bench.engine.evaluate import evaluate
    from fsar_bench.results.store import accuracies

    out = {"original": accuracies(evaluate(method, manifest, load, device=device).records)}
    for mode in MODES:
        m, perturbed = perturb_queries(manifest, load, mode, seed=seed)
        out[mode] = accuracies(evaluate(method, m, perturbed, device=device).records)
    return out


def order_sensitivity(accs: dict[str, np.ndarray]) -> dict:
    """From :func:`order_accuracies`: each order's accuracy and its paired change."""
    out = {"original": interval(accs["original"])}
    for mode in MODES:
        out[mode] = {
            "accuracy": interval(accs[mode]),
            "minus_original": paired(accs[mode], accs["original"]),
        }
    return out


def run_order_sensitivity(summary: RunSummary, cache: Path, device: torch.device | str) -> dict:
    """:func:`order_sensitivity` of a finished run, rebuilt from its folder and checkpoint."""
    from fsar_bench.analysis.alignment import method_from_run
    from fsar_bench.engine.inputs import feature_loader
    from fsar_bench.episodes.manifest import load_manifest
    from fsar_bench.features.cache import FeatureStore

    store = FeatureStore.open(cache, summary.setting.dataset, summary.features["test"])
    method = method_from_run(summary, store.meta.channels, extras=False)
    manifest = load_manifest(Path(summary.manifest_file))
    if manifest.sha256 != summary.manifest:
        raise FsarError(f"{summary.manifest_file} is not the manifest {summary.dir} ran on")
    load = feature_loader(store, pooled=method.input_kind == "pooled")
    accs = order_accuracies(method, manifest, load, device=device, seed=summary.setting.seed)
    return order_sensitivity(accs)


def alignment_gain(otam: RunSummary, blind: RunSummary) -> dict:
    """OTAM minus its order-blind ``mean`` matching on the same episodes (paired)."""
    if otam.manifest != blind.manifest:
        raise FsarError(
            f"alignment gain needs one test manifest: {otam.dir} and {blind.dir} differ"
        )
    return paired(otam.episode_accuracies(), blind.episode_accuracies())


def spread(counts: list[int], never: int) -> dict:
    """Start steps from a histogram ``[T]`` (+ ``never``): mean, std (steps), never share."""
    counts_a = np.asarray(counts, dtype=np.int64)
    steps = np.repeat(np.arange(len(counts_a)), counts_a).astype(np.float64)
    n = len(steps) + never
    return {
        "mean_steps": float(steps.mean()) if len(steps) else float("nan"),
        "std_steps": float(steps.std(ddof=1)) if len(steps) > 1 else float("nan"),
        "never_share": never / n if n else float("nan"),
        "videos": int(n),
    }


def _error(check: dict | None) -> dict | None:
    """The ground-truth check's error and rank correlation, or ``None``."""
    if not check:
        return None
    keys = ("mae_steps", "mae_frames", "spearman_rho", "never_reached")
    return {k: check.get(k) for k in keys}


def start_spread(report: dict) -> dict:
    """Start-time spread of TA2N's rule, the onset and (synthetic) the truth, with errors."""
    st, onset = report["start_times"], report.get("onset", {})
    out = {"ta2n": spread(st["counts"], st["never"]), "onset": None, "truth": None}
    if onset.get("counts") is not None:
        out["onset"] = spread(onset["counts"], onset["never"])
    truth = report.get("ground_truth")
    if truth:
        steps = truth["true_step_counts"]  # [T + 1]: bin T = after the last sampled frame
        out["truth"] = spread(steps[:-1], steps[-1])
        out["ta2n"]["error"] = _error(truth)
        out["onset"]["error"] = _error(onset.get("ground_truth"))
    return out


def aem_readings(report: dict) -> dict:
    """Both readings of the AEM and the uncertainty-separated and ground-truth ones."""
    ref = report.get("aem_reference") or {}
    within = report.get("aem_within_class") or {}
    return {
        "eq10": report["aem_eq10_as_printed"],
        "mean_cosine_distance": report["mean_pairwise_cosine_distance"],
        "interval_95": report.get("aem_interval_95"),
        "confident": (report.get("aem_confident") or {}).get("aem_eq10_as_printed"),
        "confident_share": (report.get("aem_confident") or {}).get("share"),
        "within_class": within.get("aem_eq10_as_printed"),
        "within_class_interval_95": within.get("interval_95"),
        "reference_progress": (ref.get("progress") or {}).get("aem_eq10_as_printed"),
        "reference_warp": (ref.get("warp") or {}).get("aem_eq10_as_printed"),
        "probe_accuracy": report.get("probe", {}).get("accuracy_video"),
    }


def profile_row(
    report: dict,
    summaries: list[RunSummary],
    orders: dict[str, dict],
    blind: list[RunSummary] | None = None,
) -> dict:
    """One dataset's profile (see the module docstring).

    Args:
        report: the dataset's ``aem.json`` (:func:`fsar_bench.analysis.misalignment.analyse`).
        summaries: its trained runs (one per method and shot).
        orders: :func:`order_sensitivity` per run folder (``summary.dir``).
        blind: OTAM runs with ``matching=mean`` on the same manifests (the alignment gain).
    """
    methods = [
        {
            "method": s.method,
            "shot": s.shot,
            "dir": s.dir,
            "accuracy": {k: s.accuracy[k] for k in ("mean", "ci95", "n")},
            "order": orders.get(s.dir),
        }
        for s in summaries
    ]
    gains = []
    for b in blind or []:
        otam = [s for s in summaries if s.method == "otam" and s.manifest == b.manifest]
        if otam:
            gains.append(
                {
                    "shot": b.shot,
                    "otam_mean_matching": b.accuracy["mean"],
                    **alignment_gain(otam[0], b),
                }
            )
    return {
        "dataset": report["dataset"],
        "videos": report["videos"],
        "frames_per_video": report["frames_per_video"],
        "start_spread": start_spread(report),
        "aem": aem_readings(report),
        "methods": methods,
        "alignment_gain": gains,
    }
