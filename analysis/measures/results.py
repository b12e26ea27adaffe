"""The typed misalignment report of one dataset: :class:`MisalignmentReport` is ``aem.json``.

:func:`fsar_bench.analysis.measures.misalignment.analyse` builds it, ``aem.json`` is its
:meth:`~fsar_bench.results.record.JsonRecord.to_json`, and :func:`read_report` reads a written
one back (the report, the profile and the text renderers read it by attribute, never by key).
Parts written by older versions that lack the later measures (bootstrap interval, confident
and within-class AEM, onset) read as ``None``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.analysis.measures.reference import AemReferences
from fsar_bench.analysis.measures.start_times import StartTimeSummary
from fsar_bench.analysis.measures.uncertainty import ConfidentAem
from fsar_bench.analysis.probe.config import ProbeSummary
from fsar_bench.errors import FsarError
from fsar_bench.results.record import JsonRecord, absent_when_none, json_name

AEM_NOTE = (
    "Eq. (10) as printed (M = 2 v (v - 1)) is at most 0.5 for probabilities; the mean "
    "pairwise cosine distance (twice it) is the reading consistent with the published "
    "SSv2 value 0.6260"
)


@dataclass(frozen=True, kw_only=True)
class ClassAem(JsonRecord):
    """AEM (Eq. 10) and mean cosine distance of one class's videos (``nan``: one video)."""

    class_key: str = json_name("class")
    videos: int
    aem: float
    mean_cosine_distance: float


@dataclass(frozen=True, kw_only=True)
class WithinClassAem(JsonRecord):
    """Eq. (10) over same-class pairs: all videos, its class-resampled interval, confident."""

    aem_eq10_as_printed: float
    interval_95: tuple[float, float]
    confident: float


@dataclass(frozen=True, kw_only=True)
class PublishedAem(JsonRecord):
    """TA2N Table 1's AEM of a dataset, and the name the paper gives it."""

    value: float
    source: str
    table: str
    published_as: str


@dataclass(frozen=True, kw_only=True)
class GroundTruthCheck(JsonRecord):
    """Estimated against true start frames
    (:func:`~fsar_bench.analysis.measures.misalignment.ground_truth_check`).

    Attributes:
        videos, never_reached, compared: counts (compared = videos - never_reached).
        pearson_r, pearson_p, spearman_rho, spearman_p: correlations in frames.
        mae_frames, mean_error_frames, mae_steps, mean_error_steps: absolute and signed errors.
        exact_step_fraction: share of exactly right steps.
        true_step_counts: ``[T + 1]`` true start steps of all videos (bin ``T``: after the last
            sampled frame).
    """

    videos: int
    never_reached: int
    compared: int
    pearson_r: float
    pearson_p: float
    spearman_rho: float
    spearman_p: float
    mae_frames: float
    mean_error_frames: float
    mae_steps: float
    mean_error_steps: float
    exact_step_fraction: float
    true_step_counts: tuple[int, ...]


@dataclass(frozen=True, kw_only=True)
class OnsetReport(JsonRecord):
    """The label-free confidence onset (:mod:`fsar_bench.analysis.measures.onset`): its distribution
    and, on synthetic data, its check against the truth and the step-level ceilings."""

    estimator: str
    counts: tuple[int, ...]
    never: int
    ground_truth: GroundTruthCheck | None = absent_when_none()
    oracle_ground_truth: GroundTruthCheck | None = absent_when_none()
    oracle_blind_first_ground_truth: GroundTruthCheck | None = absent_when_none()


@dataclass(frozen=True, kw_only=True)
class MisalignmentReport(JsonRecord):
    """Every number measured on one dataset (``aem.json``).

    Attributes:
        dataset: registry name. videos: scored videos ``V``. frames_per_video: ``T``.
        aem_eq10_as_printed, mean_pairwise_cosine_distance: the two readings of the AEM.
        aem_note: which reading is which. aem_interval_95: bootstrap interval of Eq. (10).
        aem_confident, aem_within_class: the uncertainty-separated readings.
        published: TA2N's value for the dataset, if any. per_class: AEM per class.
        start_times: TA2N's start-time rule. onset: the confidence onset. probe: the probe.
        ground_truth: TA2N's rule against the true starts (synthetic datasets).
        aem_reference: the ground-truth AEM references (synthetic datasets).
    """

    dataset: str
    videos: int
    frames_per_video: int
    aem_eq10_as_printed: float
    mean_pairwise_cosine_distance: float
    aem_note: str = AEM_NOTE
    aem_interval_95: tuple[float, float] | None = None
    aem_confident: ConfidentAem | None = None
    aem_within_class: WithinClassAem | None = None
    published: PublishedAem | None
    per_class: tuple[ClassAem, ...]
    start_times: StartTimeSummary
    onset: OnsetReport | None = None
    probe: ProbeSummary
    ground_truth: GroundTruthCheck | None = absent_when_none()
    aem_reference: AemReferences | None = absent_when_none()


def read_report(path: Path) -> MisalignmentReport:
    """The report in an ``aem.json`` file, or a one-line error naming it."""
    try:
        return MisalignmentReport.from_json(json.loads(Path(path).read_text()))
    except (FsarError, ValueError, TypeError) as err:
        raise FsarError(
            f"{path}: not an aem.json of fsar-bench ({err}); run fsar-bench aem again"
        ) from err
