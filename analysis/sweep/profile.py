"""A dataset's misalignment profile: one row that says how misaligned it is and what alignment buys.

Columns (:func:`profile_row`; ``fsar-bench profile``, ``fsar-bench sweep``, and the ``profile``
table of ``fsar-bench report``):

* **start-time spread**: standard deviation (in sampled steps) of the start steps of the videos
  that have one, and the share that never start, for TA2N's rule (first sampled frame with
  ``p >= 0.5``, :mod:`fsar_bench.analysis.measures.start_times`) and for the label-free confidence
  onset (:mod:`fsar_bench.analysis.measures.onset`); on synthetic data also of the true start steps
  (the first sampled frame at or after the true start) and each estimator's error against them.
* **AEM, both readings**: Eq. (10) as printed with its bootstrap interval; the uncertainty-
  separated readings (the correctly and confidently classified videos, same-class pairs only,
  :mod:`fsar_bench.analysis.measures.uncertainty`) and, on synthetic data, the ground-truth
  references (:mod:`fsar_bench.analysis.measures.reference`: ``progress``, per-frame true progress,
  and ``warp``).
* **order sensitivity**: every trained method of the point re-evaluated from its run folder
  (:func:`~fsar_bench.analysis.measures.alignment.method_from_run`: its recorded config and
  checkpoint) on its own test manifest with each query's frames reversed and shuffled
  (:mod:`fsar_bench.analysis.measures.order`), paired episode by episode with the unperturbed
  evaluation of the same weights: ``perturbed - original`` (percentage points, 95% interval of
  the mean per-episode difference, :func:`fsar_bench.results.stats.paired_difference`).
* **alignment gain**: OTAM minus OTAM with its order-blind ``mean`` matching
  (``--set otam.matching=mean``: the mean of all frame-pair distances), both trained with the
  same recipe and evaluated on the same test manifest, paired per episode.

Analysis never reaches into a method: it reads run folders (:class:`RunSummary`) and rebuilds
trained methods from them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fsar_bench.analysis.measures.order import MODES, perturb_queries
from fsar_bench.analysis.measures.results import GroundTruthCheck, MisalignmentReport
from fsar_bench.analysis.sweep.results import (
    AemReadings,
    AlignmentGain,
    MethodProfile,
    OrderChange,
    OrderSensitivity,
    ProfilePoint,
    StartError,
    StartSpread,
    StepSpread,
)
from fsar_bench.errors import FsarError
from fsar_bench.results.stats import Interval, PairedDifference, mean_ci, paired_difference
from fsar_bench.results.summary import RunSummary

GAIN_SETS = {"matching": "mean"}  # the order-blind OTAM of the alignment gain


def order_accuracies(method, manifest, load, *, device, seed: int = 0) -> dict[str, np.ndarray]:
    """Per-episode accuracies ``[E]`` (percent) with the query frames in each order.

    Args:
        method: a trained method. manifest: its test episodes. load: ``load(ids) -> [V, T, ...]``.
        device: where to evaluate. seed: the shuffle seed
        (:func:`~fsar_bench.analysis.measures.order.
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


def order_sensitivity(accs: dict[str, np.ndarray]) -> OrderSensitivity:
    """From :func:`order_accuracies`: each order's accuracy and its paired change."""
    original = accs["original"]
    changes = {
        mode: OrderChange(
            accuracy=mean_ci(accs[mode]), minus_original=paired_difference(accs[mode], original)
        )
        for mode in MODES
    }
    return OrderSensitivity(original=mean_ci(original), **changes)


def run_order_sensitivity(
    summary: RunSummary, cache: Path, device: torch.device | str
) -> OrderSensitivity:
    """:func:`order_sensitivity` of a finished run, rebuilt from its folder and checkpoint."""
    from fsar_bench.analysis.measures.alignment import method_from_run
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


def alignment_gain(otam: RunSummary, blind: RunSummary) -> PairedDifference:
    """OTAM minus its order-blind ``mean`` matching on the same episodes (paired)."""
    if otam.manifest != blind.manifest:
        raise FsarError(
            f"alignment gain needs one test manifest: {otam.dir} and {blind.dir} differ"
        )
    return paired_difference(otam.episode_accuracies(), blind.episode_accuracies())


def spread(counts: tuple[int, ...], never: int, error: StartError | None = None) -> StepSpread:
    """Start steps from a histogram ``[T]`` (+ ``never``): mean, std (steps), never share."""
    counts_a = np.asarray(counts, dtype=np.int64)
    steps = np.repeat(np.arange(len(counts_a)), counts_a).astype(np.float64)
    n = len(steps) + never
    return StepSpread(
        mean_steps=float(steps.mean()) if len(steps) else float("nan"),
        std_steps=float(steps.std(ddof=1)) if len(steps) > 1 else float("nan"),
        never_share=never / n if n else float("nan"),
        videos=int(n),
        error=error,
    )


def _error(check: GroundTruthCheck | None) -> StartError | None:
    """The ground-truth check's error and rank correlation, or ``None``."""
    if not check:
        return None
    return StartError(
        mae_steps=check.mae_steps,
        mae_frames=check.mae_frames,
        spearman_rho=check.spearman_rho,
        never_reached=check.never_reached,
    )


def start_spread(report: MisalignmentReport) -> StartSpread:
    """Start-time spread of TA2N's rule, the onset and (synthetic) the truth, with errors."""
    st, onset, truth = report.start_times, report.onset, report.ground_truth
    steps = truth.true_step_counts if truth else None  # [T + 1]: bin T = after the last frame
    return StartSpread(
        ta2n_rule=spread(st.counts, st.never, _error(truth)),
        onset=spread(onset.counts, onset.never, _error(truth and onset.ground_truth))
        if onset
        else None,
        truth=spread(steps[:-1], steps[-1]) if truth else None,
    )


def profile_aem(report: MisalignmentReport) -> AemReadings:
    """Both readings of the AEM and the uncertainty-separated and ground-truth ones."""
    ref, within, conf = report.aem_reference, report.aem_within_class, report.aem_confident
    return AemReadings(
        eq10=report.aem_eq10_as_printed,
        mean_cosine_distance=report.mean_pairwise_cosine_distance,
        interval_95=report.aem_interval_95,
        confident=conf.aem_eq10_as_printed if conf else None,
        confident_share=conf.share if conf else None,
        within_class=within.aem_eq10_as_printed if within else None,
        within_class_interval_95=within.interval_95 if within else None,
        reference_progress=ref.progress.aem_eq10_as_printed if ref else None,
        reference_warp=ref.warp.aem_eq10_as_printed if ref else None,
        probe_accuracy=report.probe.accuracy_video,
    )


def _gains(summaries: list[RunSummary], blind: list[RunSummary]) -> tuple[AlignmentGain, ...]:
    """The alignment gain of every blind OTAM run that has an OTAM run on its manifest."""
    gains = []
    for b in blind:
        otam = [s for s in summaries if s.method == "otam" and s.manifest == b.manifest]
        if otam:
            gains.append(
                AlignmentGain(
                    shot=b.shot,
                    otam_mean_matching=b.accuracy["mean"],
                    difference=alignment_gain(otam[0], b),
                )
            )
    return tuple(gains)


def profile_row(
    report: MisalignmentReport,
    summaries: list[RunSummary],
    orders: dict[str, OrderSensitivity],
    blind: list[RunSummary] | None = None,
) -> ProfilePoint:
    """One dataset's profile (see the module docstring).

    Args:
        report: the dataset's ``aem.json``
        (:func:`fsar_bench.analysis.measures.misalignment.analyse`). summaries: its trained runs
        (one per method and shot). orders: :func:`order_sensitivity` per run folder
        (``summary.dir``). blind: OTAM runs with ``matching=mean`` on the same manifests (the
        alignment gain).
    """
    methods = tuple(
        MethodProfile(
            method=s.method,
            shot=s.shot,
            dir=s.dir,
            accuracy=Interval(**{k: s.accuracy[k] for k in ("mean", "ci95", "n")}),
            order=orders.get(s.dir),
        )
        for s in summaries
    )
    return ProfilePoint(
        dataset=report.dataset,
        videos=report.videos,
        frames_per_video=report.frames_per_video,
        start_spread=start_spread(report),
        aem=profile_aem(report),
        methods=methods,
        alignment_gain=_gains(summaries, blind or []),
    )
