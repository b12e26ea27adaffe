"""Paired table of the report: each method against the baseline on identical test episodes,
trained as often as each cell was, paired training by training.

For every test manifest, each method's cell (its trainings, :mod:`fsar_bench.report.seeds`) is
compared with the baseline's cell: the mean paired difference over the trainings paired by
training seed, its interval over trainings x test episodes (x test classes), the episode-only
interval, and ``P(A > B)`` with its interval (:func:`fsar_bench.report.intervals.pair_stats`);
the paired t-test, Wilcoxon and episodes won/lost only where each side has one training, where
they mean what they say (episode level).
"""

from __future__ import annotations

import pandas as pd

from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.report.console import TRAININGS_HEAD, interval_notes, paired_texts
from fsar_bench.report.intervals import pair_stats
from fsar_bench.report.render import Table
from fsar_bench.report.runs import main_runs
from fsar_bench.report.seeds import group_trainings
from fsar_bench.report.tables import method_order, protocol_notes


def _cells(g: pd.DataFrame) -> dict[str, tuple]:
    """Label -> the cell's trainings (sorted by seed) among the runs ``g`` of one manifest."""
    return {label: group_trainings(h["summary"])[0] for label, h in g.groupby("label")}


def paired_table(
    df: pd.DataFrame, baseline: str, opts: IntervalOptions | None = None
) -> Table | None:
    """Each method minus ``baseline`` on the same episodes (same manifest), or ``None``."""
    opts = opts or IntervalOptions()
    rows, used, pairs = [], [], []
    for (dataset, _, shot, _), g in main_runs(df).groupby(
        ["dataset", "way", "shot", "manifest"], sort=True
    ):
        cells = _cells(g)
        bases = sorted(k for k, v in cells.items() if v[0].method == baseline)
        if not bases or len(cells) < 2:
            continue
        b = bases[0]
        for label in sorted((k for k in cells if k != b), key=method_order):
            p = pair_stats(cells[label], cells[b], opts)
            if p is not None:
                rows.append([f"{label} - {b}", dataset, f"{shot}-shot", *paired_texts(p, pm="±")])
                pairs.append(p)
        used.append(g)
    if not rows:
        return None
    head = ["comparison", "dataset", "setting", *TRAININGS_HEAD]
    class_level = any(p.class_level for p in pairs)
    notes = protocol_notes(pd.concat(used)) + [
        "Accuracy points, paired over identical episodes (same manifest) and trainings."
    ]
    notes += interval_notes(sorted({p.pairs for p in pairs}), class_level, opts, paired=True)
    title = f"Paired differences against {baseline}"
    return Table(name="paired", title=title, header=head, rows=rows, notes=notes, lead=3)
