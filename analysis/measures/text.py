"""Plain-text summaries of the misalignment analyses, as the commands print them."""

from __future__ import annotations

import math

from fsar_bench.analysis.measures.results import GroundTruthCheck, MisalignmentReport
from fsar_bench.analysis.probe.config import ProbeSummary
from fsar_bench.presentation.text import table


def fmt(x: float | None, spec: str = ".4f") -> str:
    return "n/a" if x is None or not math.isfinite(x) else format(x, spec)


def probe_text(summary: ProbeSummary) -> str:
    which = "seen in training" if summary.scored_videos_seen_in_training else "held out"
    return "\n".join(
        [
            f"probe: {summary.description}",
            f"  {summary.videos_note}",
            f"  accuracy on the scored videos ({which}): "
            f"{summary.accuracy_video:.1%} per video, "
            f"{summary.accuracy_frame:.1%} per frame ({summary.classes} classes); "
            f"{summary.epochs} epochs, {fmt(summary.train_seconds, '.0f')} s of training",
            f"  cached in {summary.folder}",
        ]
    )


def aem_text(report: MisalignmentReport) -> str:
    pub = report.published
    lines = [
        f"AEM, TA2N Eq. (10) as printed (M = 2v(v-1)): {fmt(report.aem_eq10_as_printed)}",
        f"mean pairwise cosine distance (2 x AEM):      "
        f"{fmt(report.mean_pairwise_cosine_distance)}  ({report.videos} videos)",
    ]
    if pub:
        lines.append(f"published ({pub.source}, {pub.table}): {pub.value:.4f}")
    low, high = report.aem_interval_95
    conf, within = report.aem_confident, report.aem_within_class
    lines += [
        f"AEM 95% bootstrap interval: [{fmt(low)}, {fmt(high)}]",
        f"AEM of the {conf.videos} videos ({conf.share:.1%}) classified correctly with "
        f"p >= {conf.tau:g}: {fmt(conf.aem_eq10_as_printed)}; of the other "
        f"{conf.others.videos}: {fmt(conf.others.aem_eq10_as_printed)}",
        f"AEM over same-class pairs only: {fmt(within.aem_eq10_as_printed)} "
        f"[{fmt(within.interval_95[0])}, {fmt(within.interval_95[1])}]; confident "
        f"videos: {fmt(within.confident)}",
    ]
    ref = report.aem_reference
    if ref:
        prog, warp = ref.progress, ref.warp
        lines.append(
            f"ground-truth AEM (true progress, 0 outside the action): "
            f"{fmt(prog.aem_eq10_as_printed)} (confident subset "
            f"{fmt(prog.confident_subset.aem_eq10_as_printed)}); evolution only (warp): "
            f"{fmt(warp.aem_eq10_as_printed)}; per-video Spearman probe vs progress "
            f"{fmt(prog.tracking_spearman, '.3f')}"
        )
    return "\n".join(lines)


def start_text(report: MisalignmentReport) -> str:
    st = report.start_times
    hist = st.histogram()
    rows = [["videos", *hist.counts], ["%", *(f"{100 * f:.1f}" for f in hist.fractions)]]
    mean = fmt(st.mean + 1, ".2f")
    return (
        f"start times (first sampled frame with p >= {st.threshold:g}; frames 1..T):\n"
        + table(["frame", *hist.labels], rows)
        + f"\nmean start frame {mean} over the {st.n_videos - st.never} videos that "
        f"start; {st.never} never reach {st.threshold:g}"
    )


def truth_text(gt: GroundTruthCheck | None) -> str:
    if not gt:
        return ""
    return (
        f"ground truth ({gt.compared} of {gt.videos} videos; {gt.never_reached} never "
        f"reach 0.5): Pearson r {fmt(gt.pearson_r, '.3f')}, Spearman rho "
        f"{fmt(gt.spearman_rho, '.3f')}, MAE {fmt(gt.mae_frames, '.2f')} frames "
        f"(signed {fmt(gt.mean_error_frames, '+.2f')}), {fmt(gt.mae_steps, '.2f')} "
        f"sampled steps ({fmt(gt.exact_step_fraction, '.1%')} exact)"
    )


def onset_text(report: MisalignmentReport) -> str:
    onset = report.onset
    gt, oracle = onset.ground_truth, onset.oracle_ground_truth
    head = f"onset ({onset.estimator}): {onset.never} of {report.videos} never reach it"
    if not gt:
        return head
    return (
        f"{head}; against the truth: Pearson r {fmt(gt.pearson_r, '.3f')}, Spearman rho "
        f"{fmt(gt.spearman_rho, '.3f')}, MAE {fmt(gt.mae_frames, '.2f')} frames (signed "
        f"{fmt(gt.mean_error_frames, '+.2f')}); ceiling (first sampled frame at or after the "
        f"true start): rho {fmt(oracle.spearman_rho, '.3f')}, MAE "
        f"{fmt(oracle.mae_frames, '.2f')}"
    )


def analysis_text(
    report: MisalignmentReport, parts: tuple[str, ...] = ("probe", "aem", "start", "truth", "onset")
) -> str:
    """The chosen parts of a dataset's report (``aem.json``), one block each."""
    render = {
        "probe": lambda: probe_text(report.probe),
        "aem": lambda: aem_text(report),
        "start": lambda: start_text(report),
        "truth": lambda: truth_text(report.ground_truth),
        "onset": lambda: onset_text(report),
    }
    return "\n".join(t for t in (render[p]() for p in parts) if t)
