"""The misalignment and profile tables of the report from ``aem.json`` (TA2N Table 1 shape)
and ``profile.json`` files."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fsar_bench.analysis.measures.results import MisalignmentReport, read_report
from fsar_bench.analysis.sweep.results import AemReadings, MethodProfile, ProfilePoint, StepSpread
from fsar_bench.errors import FsarError
from fsar_bench.presentation.tables import Table
from fsar_bench.report.tables import dataset_order, reference
from fsar_bench.results.stats import Interval, PairedDifference


def load_analysis(folder: Path) -> dict[str, MisalignmentReport]:
    """``<folder>/<dataset>/aem.json`` reports of the misalignment analysis, by dataset."""
    paths = sorted(Path(folder).glob("*/aem.json"))
    return {p.parent.name: read_report(p) for p in paths}


def _known(value) -> bool:
    """A number that was measured (not ``None``, not NaN)."""
    return isinstance(value, int | float) and not math.isnan(value)


def _num(value, digits: int = 4, scale: float = 1.0, shift: float = 0.0) -> str:
    return f"{value * scale + shift:.{digits}f}" if _known(value) else ""


def aem_table(reports: dict[str, MisalignmentReport]) -> Table | None:
    """Misalignment per dataset (TA2N Table 1 shape: datasets as columns), or ``None``."""
    from fsar_bench.data.datasets import DATASETS

    if not reports:
        return None
    ref = reference("published_aem")
    pub = {DATASETS.get(r.dataset).name: f"{float(r.aem):.4f}" for r in ref.itertuples()}
    datasets = sorted(reports, key=dataset_order) + sorted(
        set(pub) - set(reports), key=dataset_order
    )
    rep = [reports.get(d) for d in datasets]
    st = [r.start_times if r else None for r in rep]
    never = [s.never / s.n_videos if s and s.n_videos else None for s in st]
    rows = [
        ["AEM, Eq. (10) as printed", *[_num(r and r.aem_eq10_as_printed) for r in rep]],
        [
            "mean pairwise cosine distance",
            *[_num(r and r.mean_pairwise_cosine_distance) for r in rep],
        ],
        ["published AEM (TA2N Table 1)", *[pub.get(d, "") for d in datasets]],
        ["scored videos", *[str(r.videos) if r else "" for r in rep]],
        ["frames per video", *[str(r.frames_per_video) if r else "" for r in rep]],
        ["mean start frame (1-based)", *[_num(s and s.mean, 2, shift=1) for s in st]],
        ["never reach p >= 0.5 (%)", *[_num(n, 1, scale=100) for n in never]],
    ]
    notes = [
        f"{d}: {r.videos} videos x {r.frames_per_video} frames; {r.probe.videos_note}"
        for d, r in reports.items()
    ]
    notes += sorted({r.aem_note for r in reports.values() if r.aem_note})
    notes.append("Published: TA2N (Li et al., AAAI 2022) Table 1; its SSv2 is ssv2-full here.")
    title = "Action evolution misalignment per dataset"
    return Table(
        name="misalignment", title=title, header=["measure", *datasets], rows=rows, notes=notes
    )


def read_profile(path: Path) -> ProfilePoint:
    """The point in a ``profile.json`` file, or a one-line error naming it."""
    try:
        return ProfilePoint.from_json(json.loads(Path(path).read_text()))
    except (FsarError, ValueError, TypeError) as err:
        raise FsarError(
            f"{path}: not a profile.json of fsar-bench ({err}); run fsar-bench profile again"
        ) from err


def load_profiles(folder: Path) -> dict[str, ProfilePoint]:
    """``<folder>/<dataset>/profile.json`` (``fsar-bench profile`` / ``sweep``) by dataset."""
    paths = sorted(Path(folder).glob("*/profile.json"))
    return {p.parent.name: read_profile(p) for p in paths}


def _pm(d: Interval | PairedDifference | None, digits: int = 1) -> str:
    """``mean ± ci95`` of an interval or paired difference, or ``""``."""
    d = d.diff if isinstance(d, PairedDifference) else d
    if d is None or not _known(d.mean):
        return ""
    if not _known(d.ci95):
        return f"{d.mean:+.1f}"
    return f"{d.mean:+.{digits}f} ± {d.ci95:.{digits}f}"


def _spread(s: StepSpread | None) -> str:
    """``std (never %)`` of a start-time spread, or ``""``."""
    if s is None or not _known(s.never_share):
        return ""
    std = f"{s.std_steps:.2f}" if _known(s.std_steps) else "n/a"
    return f"{std} ({100 * s.never_share:.0f}%)"


def _aem_cell(a: AemReadings) -> str:
    lo, hi = a.interval_95 or (None, None)
    return _num(a.eq10) + (f" [{lo:.4f}, {hi:.4f}]" if lo is not None else "")


PROFILE_HEAD = [
    "dataset",
    "start std TA2N (never)",
    "start std onset (never)",
    "true start std",
    "AEM Eq. (10) [95%]",
    "AEM confident",
    "AEM within class",
    "AEM truth (progress)",
    "probe acc",
]
PROFILE_NOTES = [
    "start std: standard deviation of the start step (sampled frames) over the videos that "
    "start; never: share that never reach the rule's threshold; true: synthetic ground truth",
    "AEM: Eq. (10) as printed, 95% bootstrap interval; confident: correctly and confidently "
    "classified videos; within class: same-class pairs; truth: per-frame true progress",
    "order: accuracy with each query's frames reversed / shuffled minus the original order, "
    "same weights and episodes, paired 95% interval (percentage points)",
    "alignment gain: OTAM minus OTAM with matching=mean, same recipe and episodes, paired",
]


def _method_cells(m: MethodProfile | None) -> list[str]:
    """Accuracy, then reversed and shuffled minus original, of one (method, shot)."""
    order = m.order if m else None
    return [
        _pm(m and m.accuracy, 2).lstrip("+"),
        _pm(order and order.reverse.minus_original),
        _pm(order and order.shuffle.minus_original),
    ]


def _profile_row(name: str, p: ProfilePoint, runs: list[tuple], shots: list[int]) -> list[str]:
    """One dataset's row: its measures, then each (method, shot)'s accuracy and order
    sensitivity, then the alignment gain per shot."""
    st, a = p.start_spread, p.aem
    row = [
        name,
        _spread(st.ta2n_rule),
        _spread(st.onset),
        _spread(st.truth),
        _aem_cell(a),
        _num(a.confident),
        _num(a.within_class),
        _num(a.reference_progress),
        _num(a.probe_accuracy, 3),
    ]
    mine = {(m.method, m.shot): m for m in p.methods}
    for key in runs:
        row += _method_cells(mine.get(key))
    gains = {g.shot: g.difference for g in p.alignment_gain}
    return row + [_pm(gains.get(k)) for k in shots]


def profile_table(points: dict[str, ProfilePoint], sort: bool = True) -> Table | None:
    """One row per dataset: start spread, AEM readings, order sensitivity, alignment gain.

    ``sort``: datasets in the report's order (else in the order of ``points``).
    """
    if not points:
        return None
    runs = list(dict.fromkeys((m.method, m.shot) for p in points.values() for m in p.methods))
    shots = sorted({g.shot for p in points.values() for g in p.alignment_gain})
    header = list(PROFILE_HEAD)
    for m, k in runs:
        header += [f"{m} {k}-shot acc", f"{m} {k}s reversed - orig", f"{m} {k}s shuffled - orig"]
    header += [f"align gain {k}-shot (otam - mean)" for k in shots]
    names = sorted(points, key=dataset_order) if sort else list(points)
    rows = [_profile_row(name, points[name], runs, shots) for name in names]
    return Table(
        name="profile",
        title="Misalignment profile per dataset",
        header=header,
        rows=rows,
        notes=PROFILE_NOTES,
    )


def profile_text(points: list[ProfilePoint]) -> str:
    """The profile table of ``points`` as plain text (transposed: one column per dataset)."""
    from fsar_bench.presentation.text import table

    t = profile_table({p.dataset: p for p in points}, sort=False)
    if t is None:
        return "no profile"
    cols = list(zip(*([t.header] + t.rows)))
    return table(["measure", *cols[0][1:]], [list(c) for c in cols[1:]])
