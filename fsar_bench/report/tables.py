"""Report tables from stored results, with published numbers beside the measured ones.

Everything is read from the results store (:func:`fsar_bench.results.summary.load_summaries`)
and the shipped reference CSVs (``fsar_bench/data/reference``); no model is run. What the tables
know about each method (ablations, published names, order) comes from its registry entry.

* Main table (TA2N Table 2 shape): rows are methods, columns ``dataset K-shot``; cells are
  ``mean ± 95% half-width`` over test episodes. Runs whose ablation switches are not all at their
  defaults go to the ablation tables only. Published rows follow the measured ones: first those
  whose (dataset, way, shot, method) match a measured cell (published names are mapped to
  registry names by the entries' ``published_names``), then "published only" rows (methods
  not in the suite or not run) for the same columns.
* Ablation tables (the entries' ``ablations``): TA2N modules (Table 3), SC designs (Table 4), OTAM
  matching types (OTAM Table 2), ITA's LSTM size and loss and RVN's relation modules (ITA
  Tables 1-3), written when runs with at least two settings exist.
* Paired differences against a baseline on identical episodes (:mod:`fsar_bench.results.stats`).
* Training spread (:mod:`fsar_bench.report.spread`): runs that retrain a cell with other
  training seeds (``--set train.seed=S``) are kept out of the main and paired tables and the
  learning curves, and summarised there.
* Misalignment (TA2N Table 1 shape): :mod:`fsar_bench.report.misalignment`.

When several runs of one method share a cell (same dataset and shot), the row label names the
settings that tell them apart, e.g. ``otam (lam=0.05)``. Every table lists its protocol.
"""

from __future__ import annotations

import io
import math
from importlib import resources

import pandas as pd

from fsar_bench.methods import METHODS, Ablation
from fsar_bench.presentation.tables import Table
from fsar_bench.report.runs import ablation_key, in_ablation, main_runs, variant_labels

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


def fmt(mean: float, ci: float, digits: int = 2) -> str:
    """``mean ± ci`` (no interval when it is undefined)."""
    if ci is None or (isinstance(ci, float) and math.isnan(ci)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _columns(df: pd.DataFrame) -> tuple[list[tuple], list[str]]:
    """``(dataset, way, shot)`` columns and their headers."""
    cols = sorted(
        {(r.dataset, r.way, r.shot) for r in df.itertuples()},
        key=lambda c: (dataset_order(c[0]), c[1:]),
    )
    several_ways = len({c[1] for c in cols}) > 1
    return cols, [f"{d} {k}-shot" + (f" {w}-way" * several_ways) for d, w, k in cols]


def protocol_notes(df: pd.DataFrame) -> list[str]:
    """One :func:`fsar_bench.report.console.protocol_line` per group of runs sharing a protocol."""
    from fsar_bench.report.console import protocol_line

    keys = ["dataset", "way", "shot", "query", "episodes", "frames", "backbone", "size"]
    groups = sorted(df.groupby(keys), key=lambda kg: (dataset_order(kg[0][0]), kg[0][1:]))
    return [f"[{k[2]}-shot] " + protocol_line(list(g["summary"])) for k, g in groups]


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


def _accuracy_table(
    name: str,
    title: str,
    df: pd.DataFrame,
    lead: list[str],
    lead_of,
    sort,
    names: dict[str, str],
    sources,
    extra,
) -> Table:
    """Measured rows (one per distinct ``lead_of(run)``), then the published rows."""
    cols, heads = _columns(df)
    cells: dict[tuple, dict] = {}
    for r in df.itertuples():
        cells.setdefault(tuple(lead_of(r)), {})[(r.dataset, r.way, r.shot)] = fmt(r.mean, r.ci95)
    measured = [[*k, MEASURED, *[v.get(c, "") for c in cols]] for k, v in cells.items()]
    measured.sort(key=sort)
    matched, only = published_rows(cols, names, sources, extra)
    pub = matched + only
    notes = protocol_notes(df)
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


def main_table(df: pd.DataFrame) -> Table:
    """Accuracy per method and ``dataset K-shot`` (TA2N Table 2 shape) with published rows."""
    df = main_runs(df)
    names = {p: m for p, m in published_methods().items() if m in set(df["method"])}
    return _accuracy_table(
        name="main",
        title="Accuracy (%) of few-shot action recognition, mean ± 95% interval over test episodes",
        df=df,
        lead=["method", "backbone"],
        lead_of=lambda r: (r.label, f"{r.backbone} @ {r.size}px"),
        sort=lambda row: method_order(row[0]),
        names=names,
        sources=MAIN_SOURCES,
        extra=lambda m, g: [g["backbone"].iloc[0]],
    )


def _mark(value) -> str:
    return ("✓" if value else "") if isinstance(value, bool) else str(value)


def ablation_table(df: pd.DataFrame, method: str, ab: Ablation) -> Table | None:
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
        title=f"Ablation: {ab.title}; accuracy (%), mean ± 95% interval",
        df=df,
        lead=["method", *ab.fields],
        lead_of=lambda r: (r.label, *map(_mark, r.key)),
        sort=lambda row: (rank.get(tuple(row[1 : 1 + n]), len(rank)), row),
        names={p: method for k, p in ab.published.items() if k in set(keys)},
        sources=((ab.source, ab.table),),
        extra=lambda m, g: by_name.get(m, ["?"] * n),  # a published row we cannot place
    )


def paired_table(df: pd.DataFrame, baseline: str) -> Table | None:
    """Each method minus ``baseline`` on the same episodes (same manifest), or ``None``."""
    from fsar_bench.report.console import PAIRED_HEAD, paired_cells

    rows, used = [], []
    for _, g in main_runs(df).groupby(["dataset", "way", "shot", "manifest"], sort=True):
        base = g[g["method"] == baseline].sort_values("label")
        if len(base) == 0 or len(g) < 2:
            continue
        b = base.iloc[0]
        for _, r in g.drop(index=b.name).sort_values("label", key=by_method).iterrows():
            rows.append(
                [
                    f"{r['label']} - {b['label']}",
                    r["dataset"],
                    f"{r['shot']}-shot",
                    *paired_cells(r["summary"], b["summary"], pm="±"),
                ]
            )
        used.append(g)
    if not rows:
        return None
    head = ["comparison", "dataset", "setting", *PAIRED_HEAD]
    notes = protocol_notes(pd.concat(used)) + [
        "Accuracy points, paired over identical episodes (same manifest); interval of the "
        "per-episode differences as above; p-values: paired t-test and Wilcoxon signed-rank."
    ]
    title = f"Paired differences against {baseline}"
    return Table(name="paired", title=title, header=head, rows=rows, notes=notes, lead=3)
