"""Misalignment measures from a probe's per-frame probabilities (TA2N supplementary, Figs. 2, 3).

Pipeline (see :mod:`fsar_bench.analysis.probe.trained` for the probe):

1. per-frame logits ``[V, T, K]`` -> softmax over classes ``P [V, K, T]`` -> evolution vectors
   ``p [V, T]``, the row of each video's true class;
2. start times: the first sampled frame with ``p_t >= 0.5``; videos that never reach it are a
   bucket of their own (:mod:`fsar_bench.analysis.measures.start_times`);
3. AEM, both readings (:mod:`fsar_bench.analysis.measures.aem`): Eq. (10) as printed (``M = 2 v
   (v-1)``, at most 0.5 for probabilities) and the mean pairwise cosine distance (twice that; the
   reading consistent with the published SSv2 value 0.6260 > 0.5); overall and per class;
4. the published value (TA2N Table 1, ``fsar_bench/data/reference/published_aem.csv``) when the
   dataset matches through the registry (its "SSv2" is the alias of ``ssv2-full``);
5. on synthetic datasets, estimated start frames against the generator's true ``start_frame``;
6. beside them: the AEM of the correctly and confidently classified videos, the AEM over
   same-class pairs only, bootstrap intervals (:mod:`fsar_bench.analysis.measures.uncertainty`), the
   label-free confidence onset (:mod:`fsar_bench.analysis.measures.onset`) and, on synthetic
   datasets, its check against the truth, the step-level ceiling (``oracle``) and the ground-truth
   AEM references (:mod:`fsar_bench.analysis.measures.reference`), also on the confident subset.

Ground-truth comparison. A start step ``t`` (index into the ``T`` sampled frames) is mapped to
the video frame it was sampled from (the clip's stored frame indices), then compared with the
true 0-based ``start_frame``: Pearson and Spearman correlation (``scipy.stats``), mean absolute
and mean signed error in frames. In sampled steps, the true start is the number of sampled frames
that precede ``start_frame`` (the index of the first sampled frame at or after it). Videos whose
start was never reached are counted, not compared.
"""

from __future__ import annotations

import csv
import warnings
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from fsar_bench.analysis.measures.aem import (
    aem,
    aem_per_class,
    evolution_vectors,
    mean_pairwise_cosine_distance,
)
from fsar_bench.analysis.measures.onset import confidence_onset, oracle_steps
from fsar_bench.analysis.measures.reference import reference_report
from fsar_bench.analysis.measures.results import (
    ClassAem,
    GroundTruthCheck,
    MisalignmentReport,
    OnsetReport,
    PublishedAem,
    WithinClassAem,
)
from fsar_bench.analysis.measures.start_times import NEVER, start_time_summary, start_times
from fsar_bench.analysis.measures.uncertainty import (
    aem_within_class,
    bootstrap_interval,
    confident_aem,
    confident_mask,
    within_class_interval,
)
from fsar_bench.analysis.probe.trained import Probe
from fsar_bench.analysis.probe.tsm import class_probabilities
from fsar_bench.data.datasets import DATASETS
from fsar_bench.errors import FsarError
from fsar_bench.files import atomic_open

THRESHOLD = 0.5


@dataclass(frozen=True, kw_only=True)
class Misalignment:
    """Everything measured on one dataset.

    Attributes:
        p: ``[V, T]`` evolution vectors of the scored videos.
        starts: ``[V]`` start steps (0-based),
        :data:`~fsar_bench.analysis.measures.start_times.NEVER`
            where ``p`` never reaches the threshold.
        report: the numbers (``aem.json``): AEM both readings, per class, published, start
            times, ground truth.
    """

    p: np.ndarray
    starts: np.ndarray
    report: MisalignmentReport


def evolution(frame_logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``[V, T, K]`` logits, ``[V]`` labels -> ``[V, T]`` true-class probabilities per frame."""
    probs = class_probabilities(torch.from_numpy(np.asarray(frame_logits)))  # [V, K, T]
    return evolution_vectors(probs, labels)


def published_aem(dataset: str) -> PublishedAem | None:
    """TA2N Table 1's AEM for ``dataset`` (registry name), or ``None`` if it has none."""
    text = resources.files("fsar_bench.data").joinpath("reference/published_aem.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        if DATASETS.get(row["dataset"]).name == dataset:
            return PublishedAem(
                value=float(row["aem"]),
                source=row["source"],
                table=row["table"],
                published_as=row["dataset"],
            )
    return None


def per_class(p: np.ndarray, labels: np.ndarray, classes: list[str]) -> tuple[ClassAem, ...]:
    """AEM (Eq. 10) and mean cosine distance per class; ``nan`` for a single-video class."""
    scores = aem_per_class(p, labels)
    counts = np.bincount(labels, minlength=len(classes))
    return tuple(
        ClassAem(class_key=classes[k], videos=int(counts[k]), aem=a, mean_cosine_distance=2 * a)
        for k, a in scores.items()
    )


def _corr(fn, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``fn(x, y)`` -> (statistic, p-value); ``nan`` when fewer than 3 points or one is constant."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fn(x, y)
    return float(res.statistic), float(res.pvalue)


def ground_truth_check(
    starts: np.ndarray, indices: np.ndarray, true_start: np.ndarray
) -> GroundTruthCheck:
    """Estimated against true start frames (see the module docstring).

    Args:
        starts: ``[V]`` estimated start steps (0-based, ``NEVER`` = -1).
        indices: ``[V, T]`` video frame of each sampled step.
        true_start: ``[V]`` true 0-based start frames.

    Returns:
        Counts, Pearson and Spearman correlations (frames), mean absolute / signed errors in
        frames and in sampled steps, the share of exactly right steps, and the distribution of
        the true start steps of all videos (``T + 1`` bins; bin ``T``: after the last sample).
    """
    from scipy import stats

    started = starts != NEVER
    all_true_steps = (indices < true_start[:, None]).sum(1)  # [V] sampled frames before it
    est_step = starts[started]
    est_frame = indices[started, est_step].astype(np.float64)
    true = true_start[started].astype(np.float64)
    true_step = all_true_steps[started]
    r, r_p = _corr(stats.pearsonr, est_frame, true)
    rho, rho_p = _corr(stats.spearmanr, est_frame, true)
    n = int(started.sum())
    mean = (lambda a: float(a.mean())) if n else (lambda a: float("nan"))
    return GroundTruthCheck(
        videos=int(len(starts)),
        never_reached=int(len(starts) - n),
        compared=n,
        pearson_r=r,
        pearson_p=r_p,
        spearman_rho=rho,
        spearman_p=rho_p,
        mae_frames=mean(np.abs(est_frame - true)),
        mean_error_frames=mean(est_frame - true),
        mae_steps=mean(np.abs(est_step - true_step)),
        mean_error_steps=mean((est_step - true_step).astype(np.float64)),
        exact_step_fraction=mean((est_step == true_step).astype(np.float64)),
        true_step_counts=tuple(
            np.bincount(all_true_steps, minlength=indices.shape[1] + 1).tolist()
        ),
    )


def true_starts(root: Path, video_ids: list[str]) -> np.ndarray:
    """``[V]`` true 0-based start frames of a synthetic dataset's videos."""
    from fsar_bench.data.synthetic import load_ground_truth

    truth = {r["video_id"]: r["start_frame"] for r in load_ground_truth(root)}
    missing = [v for v in video_ids if v not in truth]
    if missing:
        raise FsarError(f"{root}: no ground truth for {len(missing)} videos (e.g. {missing[0]})")
    return np.array([truth[v] for v in video_ids], dtype=np.int64)


def analyse(
    probe: Probe, dataset: str, truth: np.ndarray | None = None, records: list[dict] | None = None
) -> Misalignment:
    """All measures of one dataset from its probe.

    Args:
        probe: the trained probe and its scores.
        dataset: registry name.
        truth: ``[V]`` true start frames of the scored videos, if known.
        records: their ground-truth records (synthetic datasets), for the AEM references.
    """
    labels = probe.labels
    p = evolution(probe.frame_logits, labels)
    starts = start_times(p, THRESHOLD)
    confident = confident_mask(probe.frame_logits, labels)
    report = MisalignmentReport(
        dataset=dataset,
        videos=int(len(p)),
        frames_per_video=int(p.shape[1]),
        aem_eq10_as_printed=aem(p),
        mean_pairwise_cosine_distance=mean_pairwise_cosine_distance(p),
        aem_interval_95=bootstrap_interval(p),
        aem_confident=confident_aem(p, probe.frame_logits, labels),
        aem_within_class=_within_class(p, labels, confident),
        published=published_aem(dataset),
        per_class=per_class(p, labels, probe.classes),
        start_times=start_time_summary(p, THRESHOLD),
        onset=_onset(probe, truth),
        probe=probe.summary(),
        ground_truth=None if truth is None else ground_truth_check(starts, probe.indices, truth),
        aem_reference=(
            None if records is None else reference_report(records, probe.indices, p, confident)
        ),
    )
    return Misalignment(p=p, starts=starts, report=report)


def _within_class(p: np.ndarray, labels: np.ndarray, confident: np.ndarray) -> WithinClassAem:
    """Eq. (10) over same-class pairs: all videos (with a class-resampled interval), confident."""
    return WithinClassAem(
        aem_eq10_as_printed=aem_within_class(p, labels),
        interval_95=within_class_interval(p, labels),
        confident=aem_within_class(p[confident], labels[confident]),
    )


def _onset(probe: Probe, truth: np.ndarray | None) -> OnsetReport:
    """The confidence onset's distribution and, with ``truth``, its check and the ceilings."""
    onset = confidence_onset(probe.frame_logits)
    t = probe.indices.shape[1]
    started = onset[onset != NEVER]
    checks = {}
    if truth is not None:
        oracle = oracle_steps(probe.indices, truth)
        blind = oracle_steps(probe.indices, truth, merge_first=True)
        checks = {
            "ground_truth": ground_truth_check(onset, probe.indices, truth),
            "oracle_ground_truth": ground_truth_check(oracle, probe.indices, truth),
            "oracle_blind_first_ground_truth": ground_truth_check(blind, probe.indices, truth),
        }
    return OnsetReport(
        estimator="first sampled step with 1 - H(P_t) / log K >= 0.5 (label-free)",
        counts=tuple(np.bincount(started, minlength=t).tolist()),
        never=int(len(onset) - len(started)),
        **checks,
    )


def write_start_times_csv(path: Path, probe: Probe, result: Misalignment) -> Path:
    """One row per scored video: ids, clip, start step and frame (0-based), ``p_1 .. p_T``."""
    t = result.p.shape[1]
    with atomic_open(path) as fh:
        out = csv.writer(fh)
        out.writerow(
            [
                "video_id",
                "class",
                "split",
                "clip",
                "start_step",
                "start_frame",
                *(f"p_{k + 1}" for k in range(t)),
            ]
        )
        for i, v in enumerate(probe.scored):
            s = int(result.starts[i])
            step, frame = ("never", "") if s == NEVER else (s, int(probe.indices[i, s]))
            probs = (f"{x:.6f}" for x in result.p[i])
            out.writerow([v.video_id, v.class_key, v.split, probe.clips[i], step, frame, *probs])
    return path


def write_per_class_csv(path: Path, result: Misalignment) -> Path:
    """``class, videos, aem, mean_cosine_distance`` per class."""
    rows = [
        {"class": c.class_key, "videos": c.videos, "aem": c.aem, "mean_cosine_distance": 2 * c.aem}
        for c in result.report.per_class
    ]
    with atomic_open(path) as fh:
        out = csv.DictWriter(fh, fieldnames=["class", "videos", "aem", "mean_cosine_distance"])
        out.writeheader()
        out.writerows(rows)
    return path
