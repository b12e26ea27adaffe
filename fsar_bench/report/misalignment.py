"""The misalignment table of the report (TA2N Table 1 shape) from ``aem.json`` files."""

from __future__ import annotations

import math
from pathlib import Path

from fsar_bench.errors import FsarError
from fsar_bench.files import read_json
from fsar_bench.report.render import Table
from fsar_bench.report.tables import dataset_order, reference


def load_analysis(folder: Path) -> dict[str, dict]:
    """``<folder>/<dataset>/aem.json`` reports of the misalignment analysis, by dataset."""
    paths = sorted(Path(folder).glob("*/aem.json"))
    return {p.parent.name: _load(p) for p in paths}


def _load(path: Path) -> dict:
    """An analysis output (a JSON object), or a one-line error naming the file."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise FsarError(
            f"{path} is not a readable analysis output (torn, edited or not JSON); run the "
            "analysis again or delete it"
        )
    return data


def _num(value, digits: int = 4, scale: float = 1.0, shift: float = 0.0) -> str:
    ok = isinstance(value, int | float) and not math.isnan(value)
    return f"{value * scale + shift:.{digits}f}" if ok else ""


def aem_table(reports: dict[str, dict]) -> Table | None:
    """Misalignment per dataset (TA2N Table 1 shape: datasets as columns), or ``None``."""
    from fsar_bench.data.datasets import DATASETS

    if not reports:
        return None
    ref = reference("published_aem")
    pub = {DATASETS.get(r.dataset).name: f"{float(r.aem):.4f}" for r in ref.itertuples()}
    datasets = sorted(reports, key=dataset_order) + sorted(
        set(pub) - set(reports), key=dataset_order
    )
    rep = [reports.get(d, {}) for d in datasets]
    st = [r.get("start_times", {}) for r in rep]
    never = [s["never"] / s["n_videos"] if s.get("n_videos") else None for s in st]
    rows = [
        ["AEM, Eq. (10) as printed", *[_num(r.get("aem_eq10_as_printed")) for r in rep]],
        [
            "mean pairwise cosine distance",
            *[_num(r.get("mean_pairwise_cosine_distance")) for r in rep],
        ],
        ["published AEM (TA2N Table 1)", *[pub.get(d, "") for d in datasets]],
        ["scored videos", *[str(r.get("videos", "")) for r in rep]],
        ["frames per video", *[str(r.get("frames_per_video", "")) for r in rep]],
        ["mean start frame (1-based)", *[_num(s.get("mean"), 2, shift=1) for s in st]],
        ["never reach p >= 0.5 (%)", *[_num(n, 1, scale=100) for n in never]],
    ]
    notes = [
        f"{d}: {r.get('videos', '?')} videos x {r.get('frames_per_video', '?')} frames; "
        + r.get("probe", {}).get("videos_note", "probe not described")
        for d, r in reports.items()
    ]
    notes += sorted({r["aem_note"] for r in reports.values() if r.get("aem_note")})
    notes.append("Published: TA2N (Li et al., AAAI 2022) Table 1; its SSv2 is ssv2-full here.")
    title = "Action evolution misalignment per dataset"
    return Table(
        name="misalignment", title=title, header=["measure", *datasets], rows=rows, notes=notes
    )


def load_profiles(folder: Path) -> dict[str, dict]:
    """``<folder>/<dataset>/profile.json`` (``fsar-bench profile`` / ``sweep``) by dataset."""
    paths = sorted(Path(folder).glob("*/profile.json"))
    return {p.parent.name: _load(p) for p in paths}


def _pm(d: dict | None, digits: int = 1) -> str:
    """``mean ± ci95`` of an interval or paired difference, or ``""``."""
    if not d or d.get("mean") is None:
        return ""
    ci = d.get("ci95")
    return f"{d['mean']:+.{digits}f} ± {ci:.{digits}f}" if ci is not None else f"{d['mean']:+.1f}"


def _spread(s: dict | None) -> str:
    """``std (never %)`` of a start-time spread, or ``""``."""
    if not s or s.get("never_share") is None:
        return ""
    std = "n/a" if s.get("std_steps") is None else f"{s['std_steps']:.2f}"
    return f"{std} ({100 * s['never_share']:.0f}%)"


def _aem_cell(a: dict) -> str:
    lo, hi = (a.get("interval_95") or [None, None])[:2]
    return _num(a["eq10"]) + (f" [{lo:.4f}, {hi:.4f}]" if lo is not None else "")


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


def _profile_row(name: str, p: dict, runs: list[tuple], shots: list[int]) -> list[str]:
    """One dataset's row: its measures, then each (method, shot)'s accuracy and order
    sensitivity, then the alignment gain per shot."""
    st, a = p["start_spread"], p["aem"]
    row = [
        name,
        _spread(st["ta2n"]),
        _spread(st["onset"]),
        _spread(st["truth"]),
        _aem_cell(a),
        _num(a["confident"]),
        _num(a["within_class"]),
        _num(a["reference_progress"]),
        _num(a["probe_accuracy"], 3),
    ]
    mine = {(m["method"], m["shot"]): m for m in p["methods"]}
    for key in runs:
        m = mine.get(key, {})
        order = m.get("order") or {}
        row += [
            _pm(m.get("accuracy"), 2).lstrip("+"),
            _pm((order.get("reverse") or {}).get("minus_original")),
            _pm((order.get("shuffle") or {}).get("minus_original")),
        ]
    gains = {g["shot"]: g for g in p["alignment_gain"]}
    return row + [_pm(gains.get(k)) for k in shots]


def profile_table(points: dict[str, dict], sort: bool = True) -> Table | None:
    """One row per dataset: start spread, AEM readings, order sensitivity, alignment gain.

    ``sort``: datasets in the report's order (else in the order of ``points``).
    """
    if not points:
        return None
    runs = list(
        dict.fromkeys((m["method"], m["shot"]) for p in points.values() for m in p["methods"])
    )
    shots = sorted({g["shot"] for p in points.values() for g in p["alignment_gain"]})
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


def profile_text(points: list[dict]) -> str:
    """The profile table of ``points`` as plain text (transposed: one column per dataset)."""
    from fsar_bench.report.text import table

    t = profile_table({p["dataset"]: p for p in points}, sort=False)
    if t is None:
        return "no profile"
    cols = list(zip(*([t.header] + t.rows)))
    return table(["measure", *cols[0][1:]], [list(c) for c in cols[1:]])
