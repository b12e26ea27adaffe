"""Typed results of the profile and the sweep: :class:`ProfilePoint` is ``profile.json``,
:class:`SweepResult` is ``sweep.json`` and :class:`SweepRow` a row of ``sweep.csv``.

Start-time spreads are named by the rule that made them: ``ta2n_rule`` is TA2N's start-time
rule (first sampled frame with ``p >= 0.5``), not the TA2N method; ``profile.json`` files
written before that name (key ``"ta2n"``) read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsar_bench.results.record import JsonRecord, absent_when_none, inline
from fsar_bench.results.stats import Interval, PairedDifference


@dataclass(frozen=True, kw_only=True)
class StartError(JsonRecord):
    """An estimator's start steps against the true ones (a part of its ground-truth check)."""

    mae_steps: float | None
    mae_frames: float | None
    spearman_rho: float | None
    never_reached: int | None


@dataclass(frozen=True, kw_only=True)
class StepSpread(JsonRecord):
    """Start steps of one rule: mean and standard deviation (sampled steps) of the videos that
    start, the share that never does, and (synthetic data) the error against the truth."""

    mean_steps: float | None
    std_steps: float | None
    never_share: float | None
    videos: int
    error: StartError | None = absent_when_none()


@dataclass(frozen=True, kw_only=True)
class StartSpread(JsonRecord):
    """Start-time spread of TA2N's rule, of the confidence onset and of the true starts."""

    ta2n_rule: StepSpread
    onset: StepSpread | None
    truth: StepSpread | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StartSpread:
        """Also reads files written before the rename (``"ta2n"`` for ``"ta2n_rule"``)."""
        if "ta2n" in data and "ta2n_rule" not in data:
            data = {"ta2n_rule": data["ta2n"], **data}
        return super().from_json(data)


@dataclass(frozen=True, kw_only=True)
class AemReadings(JsonRecord):
    """Every reading of a dataset's AEM that the profile shows (``None``: not measured).

    Attributes:
        eq10, mean_cosine_distance: Eq. (10) as printed and the mean pairwise cosine distance.
        interval_95: Eq. (10)'s bootstrap interval. confident, confident_share: Eq. (10) of the
            confidently classified videos and their share. within_class,
            within_class_interval_95: over same-class pairs. reference_progress,
            reference_warp: the ground-truth references. probe_accuracy: the probe's video
            accuracy on the scored videos.
    """

    eq10: float | None
    mean_cosine_distance: float | None
    interval_95: tuple[float, float] | None
    confident: float | None
    confident_share: float | None
    within_class: float | None
    within_class_interval_95: tuple[float, float] | None
    reference_progress: float | None
    reference_warp: float | None
    probe_accuracy: float | None


@dataclass(frozen=True, kw_only=True)
class OrderChange(JsonRecord):
    """Accuracy with the query frames in one perturbed order, and its paired change."""

    accuracy: Interval
    minus_original: PairedDifference


@dataclass(frozen=True, kw_only=True)
class OrderSensitivity(JsonRecord):
    """A trained method on its test episodes with each query's frames reordered."""

    original: Interval
    reverse: OrderChange
    shuffle: OrderChange


@dataclass(frozen=True, kw_only=True)
class MethodProfile(JsonRecord):
    """One trained run of a point: its accuracy and order sensitivity (``None``: not measured)."""

    method: str
    shot: int
    dir: str
    accuracy: Interval
    order: OrderSensitivity | None = None


@dataclass(frozen=True, kw_only=True)
class AlignmentGain(JsonRecord):
    """OTAM minus OTAM with ``matching=mean`` (accuracy ``otam_mean_matching``), paired."""

    shot: int
    otam_mean_matching: float
    difference: PairedDifference = inline()


@dataclass(frozen=True, kw_only=True)
class ProfilePoint(JsonRecord):
    """One dataset's misalignment profile (``profile.json``;
    :mod:`fsar_bench.analysis.sweep.profile`).

    Attributes:
        key: hash of the request that produced it (``""`` before it is written).
        dataset, videos, frames_per_video: the dataset and its scored videos.
        start_spread, aem: from the dataset's ``aem.json``.
        methods: the trained runs. alignment_gain: per shot, when OTAM was trained.
        request: the request, as JSON (a record of what was asked).
    """

    key: str = ""
    dataset: str
    videos: int
    frames_per_video: int
    start_spread: StartSpread
    aem: AemReadings
    methods: tuple[MethodProfile, ...] = ()
    alignment_gain: tuple[AlignmentGain, ...] = ()
    request: dict[str, Any] | None = absent_when_none()


@dataclass(frozen=True, kw_only=True)
class SweepRow(JsonRecord):
    """One row of ``sweep.csv``: a level, method and shot (see
    :mod:`fsar_bench.analysis.sweep.table`); the AEM and start columns are the level's."""

    level: str
    dataset: str
    method: str
    shot: int
    accuracy: float
    accuracy_ci95: float | None
    reverse_minus_original: float | None
    reverse_ci95: float | None
    shuffle_minus_original: float | None
    shuffle_ci95: float | None
    alignment_gain: float | None
    alignment_gain_ci95: float | None
    aem_eq10: float | None
    aem_lo: float | None
    aem_hi: float | None
    aem_confident: float | None
    aem_within_class: float | None
    aem_reference_progress: float | None
    aem_reference_warp: float | None
    probe_accuracy: float | None
    ta2n_rule_start_std_steps: float | None
    ta2n_rule_never_share: float | None
    ta2n_rule_start_mae_steps: float | None
    ta2n_rule_start_spearman: float | None
    onset_mae_steps: float | None
    onset_spearman: float | None
    true_start_std_steps: float | None


@dataclass(frozen=True, kw_only=True)
class RankCorrelations(JsonRecord):
    """Spearman of the probe's AEM with the level order and with the references (``None``:
    undefined), and the range of the AEM over the levels."""

    aem_vs_level: float | None
    aem_vs_reference_progress: float | None
    aem_vs_reference_warp: float | None
    confident_aem_vs_level: float | None
    within_class_aem_vs_level: float | None
    aem_range: tuple[float, float] | None


@dataclass(frozen=True, kw_only=True)
class SweepResult(JsonRecord):
    """``sweep.json``: the factor, its levels in the order given, the correlations, the rows
    of ``sweep.csv`` and every level's point."""

    factor: str
    levels: tuple[str, ...]
    rank_correlations: RankCorrelations
    rows: tuple[SweepRow, ...]
    points: tuple[ProfilePoint, ...]
