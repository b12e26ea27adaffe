"""Report tables from stored results, with published numbers beside the measured ones.

Everything is read from the results store (:func:`fsar_bench.results.summary.load_summaries`)
and the shipped reference CSVs (``fsar_bench/data/reference``); no model is run. What the tables
know about each method (ablations, published names, order) comes from its registry entry.

* Main table (TA2N Table 2 shape): rows are methods, columns ``dataset K-shot``; a cell is the
  mean over the cell's trainings (runs that differ only in ``train.seed``) ± the 95% interval
  over trainings x test episodes, with the episode-only interval beside it
  (:func:`fsar_bench.report.console.cell_text`); a cell trained once is ``mean ± episode
  half-width`` and the notes say so. Runs whose ablation switches are not all at their
  defaults go to the ablation tables only. Published rows follow the measured ones: first those
  whose (dataset, way, shot, method) match a measured cell (published names are mapped to
  registry names by the entries' ``published_names``), then "published only" rows (methods
  not in the suite or not run) for the same columns.
* Ablation tables (the entries' ``ablations``): TA2N modules (Table 3), SC designs (Table 4), OTAM
  matching types (OTAM Table 2), ITA's LSTM size and loss and RVN's relation modules (ITA
  Tables 1-3), written when runs with at least two settings exist.
* Paired differences against a baseline on identical episodes: :mod:`fsar_bench.report.paired`.
* Training spread (:mod:`fsar_bench.report.spread`): each training seed's accuracy of the cells
  trained more than once.
* Misalignment (TA2N Table 1 shape): :mod:`fsar_bench.report.misalignment`.

When several runs of one method share a cell (same dataset and shot), the row label names the
settings that tell them apart, e.g. ``otam (lam=0.05)``. Every table lists its protocol.
"""

from __future__ import annotations

import io
from importlib import resources

import pandas as pd

from fsar_bench.methods import METHODS, Ablation
from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.report.console import cell_text, classes_note, interval_notes, protocol_line
from fsar_bench.report.intervals import cell_stats
from fsar_bench.report.render import Table
from fsar_bench.report.runs import ablation_key, in_ablation, main_runs, variant_labels
from fsar_bench.report.seeds import group_trainings

MAIN_SOURCES = (("TA2N", "Table 2"), ("OTAM", "Table 1"), ("ITA+circle loss", "Table 4"))
DATASET_ORDER = (
    "ucf101",
    "hmdb51",
    "ssv2-full",
    "ssv2-small",
    "kinetics-100",
    "synthetic-none",
    "synthetic-low",
    "synthetic-mid",
    "synthetic-high",
)
MEASURED = "measured"


def published_methods() -> dict[str, str]:
    """Published method name -> registry name (the entries' ``published_names``)."""
    return {p: m.name for m in METHODS.loadable() for p in m.published_names}


def reference(name: str) -> pd.DataFrame:
    """A shipped reference CSV (``published_results`` or ``published_aem``) as strings."""
    text = resources.files("fsar_bench.data").joinpath(f"reference/{name}.csv").read_text()
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    df["short"] = df["source"].str.split(" (", regex=False).str[0]
    return df


def method_order(label: str) -> tuple:
    """Sort key of a row label: the entries' ``report_rank`` (TA2N Table 2's order), label."""
    head = label.split(" ")[0]
    return (METHODS.get(head).report_rank if head in METHODS else 1000, label)


def dataset_order(name: str) -> tuple:
    """Sort key of a dataset: TA2N Table 1's order, the others, synthetic by misalignment."""
    return (DATASET_ORDER.index(name) if name in DATASET_ORDER else len(DATASET_ORDER), name)


def by_method(labels: pd.Series) -> pd.Series:
    """:func:`method_order` for ``DataFrame.sort_values(key=...)``."""
    return labels.map(method_order)


def _columns(df: pd.DataFrame) -> tuple[list[tuple], list[str]]:
    """``(dataset, way, shot)`` columns and their headers."""
    cols = sorted(
        {(r.dataset, r.way, r.shot) for r in df.itertuples()},
        key=lambda c: (dataset_order(c[0]), c[1:]),
    )
    several_ways = len({c[1] for c in cols}) > 1
    return cols, [f"{d} {k}-shot" + (f" {w}-way" * several_ways) for d, w, k in cols]


def protocol_notes(df: pd.DataFrame) -> list[str]:
    """One :func:`fsar_bench.report.console.protocol_line` per group of runs sharing a protocol
    (its interval convention: one training's episode interval)."""
    keys = ["dataset", "way", "shot", "query", "episodes", "frames", "backbone", "size"]
    groups = sorted(df.groupby(keys), key=lambda kg: (dataset_order(kg[0][0]), kg[0][1:]))
    return [
        f"[{k[2]}-shot] " + protocol_line(list(g["summary"]), "episode interval") for k, g in groups
    ]


def published_rows(cols: list[tuple], names: dict[str, str], sources, extra) -> tuple[list, list]:
    """Published rows with a number in ``cols``: (matched rows, published-only rows).

    Args:
        cols: ``(dataset, way, shot)`` columns of the table.
        names: published method name -> row label, for the methods measured in this table;
            the other rows keep their published name.
        sources: ``(short source, table)`` pairs to read.
        extra: ``(published name, its CSV rows) -> lead cells`` between label and source.
    """
    pub = reference("published_results")
    pub = pub[[(s, t) in sources for s, t in zip(pub["short"], pub["table"])]]
    matched, only = [], []
    for (short, table, method), g in pub.groupby(["short", "table", "method"], sort=False):
        cells = {(r.dataset, int(r.way), int(r.shot)): r for r in g.itertuples()}
        values = [
            cells[c].accuracy + (cells[c].ci95 and f" ± {cells[c].ci95}") if c in cells else ""
            for c in cols
        ]
        if any(values):
            row = [names.get(method, method), *extra(method, g), f"{short} {table}", *values]
            (matched if method in names else only).append(row)
    return matched, only


def _measured(df: pd.DataFrame, lead_of, opts: IntervalOptions) -> tuple[list, list]:
    """``([(lead, {column: cell text})], [CellStats])``: one cell per lead and column, the
    mean over its trainings (:mod:`fsar_bench.report.intervals`)."""
    runs: dict[tuple, dict[tuple, list]] = {}
    for r in df.itertuples():
        key = (r.dataset, r.way, r.shot)
        runs.setdefault(tuple(lead_of(r)), {}).setdefault(key, []).append(r.summary)
    cells, stats = [], []
    for lead, by_col in runs.items():
        texts = {}
        for col, group in by_col.items():
            c = cell_stats(group_trainings(group)[0], opts)
            texts[col] = cell_text(c, pm="±")
            stats.append(c)
        cells.append((lead, texts))
    return cells, stats


def _accuracy_table(
    *,
    name: str,
    title: str,
    df: pd.DataFrame,
    lead: list[str],
    lead_of,
    sort,
    names: dict[str, str],
    sources,
    extra,
    opts: IntervalOptions,
) -> Table:
    """Measured rows (one per distinct ``lead_of(run)``, its cells over their trainings), then
    the published rows."""
    cols, heads = _columns(df)
    cells, stats = _measured(df, lead_of, opts)
    measured = [[*k, MEASURED, *[v.get(c, "") for c in cols]] for k, v in cells]
    measured.sort(key=sort)
    matched, only = published_rows(cols, names, sources, extra)
    pub = matched + only
    counts = sorted({c.trainings for c in stats})
    notes = protocol_notes(df) + interval_notes(counts, any(c.class_level for c in stats), opts)
    notes += classes_note(stats, opts)
    if pub:
        notes.append(
            "Published rows: the papers' numbers with their own backbones, episodes "
            "and training budgets; not measured here."
        )
        ref = reference("published_results")
        notes += sorted(
            {
                f"{r.short} {r.table}: {r.note}"
                for r in ref.itertuples()
                if r.note and (r.short, r.table) in sources
            }
        )
    else:
        notes.append("No published numbers for these datasets and settings.")
    rows = measured + pub
    breaks = sorted({n for n in (len(measured), len(measured) + len(matched)) if n < len(rows)})
    return Table(
        name=name,
        title=title,
        header=[*lead, "source", *heads],
        rows=rows,
        notes=notes,
        lead=len(lead) + 1,
        breaks=breaks,
    )


def main_table(df: pd.DataFrame, opts: IntervalOptions | None = None) -> Table:
    """Accuracy per method and ``dataset K-shot`` (TA2N Table 2 shape) with published rows;
    a cell is the mean over its trainings with its interval (``opts``)."""
    df = main_runs(df)
    names = {p: m for p, m in published_methods().items() if m in set(df["method"])}
    return _accuracy_table(
        name="main",
        title="Accuracy (%) of few-shot action recognition, mean over trainings ± 95% interval",
        df=df,
        lead=["method", "backbone"],
        lead_of=lambda r: (r.label, f"{r.backbone} @ {r.size}px"),
        sort=lambda row: method_order(row[0]),
        names=names,
        sources=MAIN_SOURCES,
        extra=lambda m, g: [g["backbone"].iloc[0]],
        opts=opts or IntervalOptions(),
    )


def _mark(value) -> str:
    return ("✓" if value else "") if isinstance(value, bool) else str(value)


def ablation_table(
    df: pd.DataFrame, method: str, ab: Ablation, opts: IntervalOptions | None = None
) -> Table | None:
    """One ablation table of ``method``, or ``None`` when fewer than two settings were run."""
    df = df[[in_ablation(r, method, ab) for _, r in df.iterrows()]]
    keys = [ablation_key(r, ab) for _, r in df.iterrows()]
    if len(set(keys)) < 2:
        return None
    df = df.assign(key=keys, label=variant_labels(df, exclude=ab.fields))
    n = len(ab.fields)
    rank = {tuple(map(_mark, k)): i for i, k in enumerate(ab.published)}  # the paper's order
    by_name = {p: list(map(_mark, k)) for k, p in ab.published.items()}
    return _accuracy_table(
        name=ab.name,
        title=f"Ablation: {ab.title}; accuracy (%), mean over trainings ± 95% interval",
        df=df,
        lead=["method", *ab.fields],
        lead_of=lambda r: (r.label, *map(_mark, r.key)),
        sort=lambda row: (rank.get(tuple(row[1 : 1 + n]), len(rank)), row),
        names={p: method for k, p in ab.published.items() if k in set(keys)},
        sources=((ab.source, ab.table),),
        extra=lambda m, g: by_name.get(m, ["?"] * n),  # a published row we cannot place
        opts=opts or IntervalOptions(),
    )
