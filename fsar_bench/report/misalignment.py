"""The misalignment table of the report (TA2N Table 1 shape) from ``aem.json`` files."""

from __future__ import annotations

import json
import math
from pathlib import Path

from fsar_bench.report.render import Table
from fsar_bench.report.tables import dataset_order, reference


def load_analysis(folder: Path) -> dict[str, dict]:
    """``<folder>/<dataset>/aem.json`` reports of the misalignment analysis, by dataset."""
    paths = sorted(Path(folder).glob("*/aem.json"))
    return {p.parent.name: json.loads(p.read_text()) for p in paths}


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
        ["mean pairwise cosine distance",
         *[_num(r.get("mean_pairwise_cosine_distance")) for r in rep]],
        ["published AEM (TA2N Table 1)", *[pub.get(d, "") for d in datasets]],
        ["scored videos", *[str(r.get("videos", "")) for r in rep]],
        ["frames per video", *[str(r.get("frames_per_video", "")) for r in rep]],
        ["mean start frame (1-based)", *[_num(s.get("mean"), 2, shift=1) for s in st]],
        ["never reach p >= 0.5 (%)", *[_num(n, 1, scale=100) for n in never]],
    ]  # fmt: skip
    notes = [f"{d}: {r.get('videos', '?')} videos x {r.get('frames_per_video', '?')} frames; "
             + r.get("probe", {}).get("videos_note", "probe not described")
             for d, r in reports.items()]  # fmt: skip
    notes += sorted({r["aem_note"] for r in reports.values() if r.get("aem_note")})
    notes.append("Published: TA2N (Li et al., AAAI 2022) Table 1; its SSv2 is ssv2-full here.")
    title = "Action evolution misalignment per dataset"
    return Table(
        name="misalignment", title=title, header=["measure", *datasets], rows=rows, notes=notes
    )
