"""Report tables from stored results, with published numbers beside the measured ones.

Everything is read from the results store (:func:`fsar_bench.results.store.load_runs`), the shipped
reference CSVs (``fsar_bench/data/reference``) and the misalignment analysis outputs
(``<analysis>/<dataset>/aem.json``); no model is run.

* Main table (TA2N Table 2 shape): rows are methods, columns ``dataset K-shot``; cells are
  ``mean ± 95% half-width`` over test episodes. Runs whose ablation switches are not all at their
  defaults go to the ablation tables only. Published rows follow the measured ones: first those
  whose (dataset, way, shot, method) match a measured cell (published names are mapped to
  registry names explicitly, :data:`PUBLISHED_METHODS`), then "published only" rows (methods
  not in the suite or not run) for the same columns.
* Ablation tables (:data:`ABLATIONS`): TA2N modules (Table 3), SC designs (Table 4), OTAM
  matching types (OTAM Table 2), ITA's LSTM size and loss and RVN's relation modules (ITA
  Tables 1-3), written when runs with at least two settings exist.
* Paired differences against a baseline on identical episodes (:mod:`fsar_bench.results.stats`).
* Misalignment (TA2N Table 1 shape): datasets as columns, measures as rows.

When several runs of one method share a cell (same dataset and shot), the row label names the
settings that tell them apart, e.g. ``otam (lam=0.05)``. Every table lists its protocol.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from fsar_bench.results.store import load_runs

PUBLISHED_METHODS = {  # published name -> registry name; other names stay "published only"
    "ProtoNet": "protonet", "TSN++": "protonet", "TRN++": "trn", "OTAM": "otam", "TA2N": "ta2n",
    "ITA (LSTM + circle loss)": "ita",
}  # fmt: skip
MAIN_SOURCES = (("TA2N", "Table 2"), ("OTAM", "Table 1"), ("ITA+circle loss", "Table 4"))
METHOD_ORDER = ("protonet", "trn", "otam", "ta2n", "rvn", "ita")  # TA2N Table 2's, then ITA's
DATASET_ORDER = ("ucf101", "hmdb51", "ssv2-full", "ssv2-small", "kinetics-100", "synthetic-none",
                 "synthetic-low", "synthetic-mid", "synthetic-high")  # fmt: skip
IGNORED = {"shots", "return_extras", "return_alignment"}  # do not change accuracy
MEASURED = "measured"


@dataclass(frozen=True)
class Ablation:
    """An ablation table: runs of ``method`` that differ in ``fields`` of its method config."""

    name: str
    title: str
    method: str
    fields: tuple[str, ...]
    default: tuple
    source: str
    table: str
    published: dict[tuple, str]  # row key -> method name in the published CSV


_T, _F = True, False
ABLATIONS = (
    Ablation("ablation_ta2n_modules", "TA2N modules (TA2N Table 3)", "ta2n", ("ttm", "tc", "sc"),
             (_T, _T, _T), "TA2N", "Table 3",
             {(_F, _F, _F): "TA2N baseline (no TTM/TC/SC)", (_T, _F, _F): "TA2N TTM",
              (_T, _T, _F): "TA2N TTM+TC", (_T, _F, _T): "TA2N TTM+SC",
              (_T, _T, _T): "TA2N TTM+TC+SC"}),
    Ablation("ablation_ta2n_sc_design", "Spatial-coordination designs (TA2N Table 4)", "ta2n",
             ("sc_design",), ("mask",), "TA2N", "Table 4",
             {("enumerate",): "TA2N SC enumerate", ("grid",): "TA2N SC grid-based",
              ("mask",): "TA2N SC mask"}),
    Ablation("ablation_otam_matching", "Temporal matching (OTAM Table 2)", "otam", ("matching",),
             ("otam",), "OTAM", "Table 2",
             {("min",): "matching: Min", ("mean",): "matching: Mean",
              ("diagonal",): "matching: Diagonal", ("plain-dtw",): "matching: Plain DTW",
              ("otam",): "matching: OTAM"}),
    Ablation("ablation_ita", "LSTM size and loss (ITA Tables 2-3)", "ita", ("hidden", "loss"),
             (512, "circle"), "ITA+circle loss", "Tables 1-3",
             {(64, "ce"): "ITA LSTM-64 + cross-entropy",
              (256, "ce"): "ITA LSTM-256 + cross-entropy",
              (512, "ce"): "ITA LSTM-512 + cross-entropy",
              (512, "circle"): "ITA LSTM-512 + circle loss"}),
    Ablation("ablation_rvn_kernels", "RVN relation modules (ITA Table 1)", "rvn", ("kernels",),
             ("rvn-1",), "ITA+circle loss", "Tables 1-3",
             {("rvn-1",): "RVN-1 (relation baseline)", ("rvn-2",): "RVN-2", ("rvn-3",): "RVN-3"}),
)  # fmt: skip


@dataclass
class Table:
    """A rendered-to-be table: ``lead`` left columns (labels), then value columns."""

    name: str
    title: str
    header: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    lead: int = 1
    breaks: list[int] = field(default_factory=list)  # row indices starting a new block


def reference(name: str) -> pd.DataFrame:
    """A shipped reference CSV (``published_results`` or ``published_aem``) as strings."""
    text = resources.files("fsar_bench.data").joinpath(f"reference/{name}.csv").read_text()
    df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    df["short"] = df["source"].str.split(" (", regex=False).str[0]
    return df


def _flat(s: dict) -> dict[str, str]:
    """The settings that can tell two runs of one method apart, as JSON strings."""
    st = s["setting"]
    out = {"preset": s.get("preset"), "backbone": s["backbone"], "size": s["size"]}
    out |= {k: v for k, v in s["method_config"].items() if k not in IGNORED}
    out |= {f"train.{k}": v for k, v in s.get("train_config", {}).items()}
    out |= {k: st.get(k) for k in ("episodes", "query", "frames", "seed", "repeats", "protocol")}
    out["manifest"] = s["manifest"][:12]
    return {k: json.dumps(v, sort_keys=True) for k, v in out.items()}


def collect(runs: Path) -> pd.DataFrame:
    """One row per finished run under ``runs``; ``summary`` holds the run's summary dict."""
    rows = []
    for s in load_runs(runs):
        st, acc = s["setting"], s["accuracy"]
        rows.append({"dataset": st["dataset"], "method": s["method"], "way": st["way"],
                     "shot": st["shot"], "query": st["query"], "episodes": st["episodes"],
                     "frames": st["frames"], "backbone": s["backbone"], "size": s["size"],
                     "manifest": s["manifest"], "mean": acc["mean"], "ci95": acc["ci95"],
                     "n": acc["n"], "dir": s["dir"], "config": _flat(s), "summary": s})  # fmt: skip
    return pd.DataFrame(rows)


def variant_labels(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> pd.Series:
    """Method name plus the settings that differ between its runs sharing a cell."""
    varying: dict[str, set[str]] = {}
    for (method, _, _, _), g in df.groupby(["method", "dataset", "way", "shot"]):
        keys = set().union(*g["config"]) - set(exclude)
        diff = {k for k in keys if len({c.get(k) for c in g["config"]}) > 1}
        varying.setdefault(method, set()).update(diff)

    def label(r) -> str:
        keys = sorted(varying.get(r["method"], ()))
        extra = ", ".join(f"{k}={r['config'].get(k, 'null').strip(chr(34))}" for k in keys)
        return r["method"] + (f" ({extra})" if extra else "")

    return df.apply(label, axis=1)


def ablation_key(run: pd.Series, ab: Ablation) -> tuple:
    """The run's values of ``ab.fields`` (a field its config lacks counts as the default)."""
    cfg = run["summary"]["method_config"]
    return tuple(cfg.get(f, d) for f, d in zip(ab.fields, ab.default))


def in_ablation(run: pd.Series, ab: Ablation) -> bool:
    """Run of ``ab.method`` whose *other* ablation switches are at their defaults."""
    others = [a for a in ABLATIONS if a.method == ab.method and a is not ab]
    return run["method"] == ab.method and all(ablation_key(run, o) == o.default for o in others)


def main_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Runs with every ablation switch at its default (the full methods), labelled anew."""
    keep = [all(r["method"] != a.method or ablation_key(r, a) == a.default for a in ABLATIONS)
            for _, r in df.iterrows()]  # fmt: skip
    return df[keep].assign(label=variant_labels(df[keep]))


def method_order(label: str) -> tuple:
    """Sort key of a row label: TA2N Table 2's method order, then the label."""
    head = label.split(" ")[0]
    return (METHOD_ORDER.index(head) if head in METHOD_ORDER else len(METHOD_ORDER), label)


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
    cols = sorted({(r.dataset, r.way, r.shot) for r in df.itertuples()},
                  key=lambda c: (dataset_order(c[0]), c[1:]))  # fmt: skip
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
        values = [cells[c].accuracy + (cells[c].ci95 and f" ± {cells[c].ci95}") if c in cells
                  else "" for c in cols]  # fmt: skip
        if any(values):
            row = [names.get(method, method), *extra(method, g), f"{short} {table}", *values]
            (matched if method in names else only).append(row)
    return matched, only


def _accuracy_table(name: str, title: str, df: pd.DataFrame, lead: list[str], lead_of, sort,
                    names: dict[str, str], sources, extra) -> Table:  # fmt: skip
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
        notes.append("Published rows: the papers' numbers with their own backbones, episodes "
                     "and training budgets; not measured here.")  # fmt: skip
        ref = reference("published_results")
        notes += sorted({f"{r.short} {r.table}: {r.note}" for r in ref.itertuples()
                         if r.note and (r.short, r.table) in sources})  # fmt: skip
    else:
        notes.append("No published numbers for these datasets and settings.")
    rows = measured + pub
    breaks = sorted({n for n in (len(measured), len(measured) + len(matched)) if n < len(rows)})
    return Table(name, title, [*lead, "source", *heads], rows, notes, len(lead) + 1, breaks)


def main_table(df: pd.DataFrame) -> Table:
    """Accuracy per method and ``dataset K-shot`` (TA2N Table 2 shape) with published rows."""
    df = main_runs(df)
    names = {p: m for p, m in PUBLISHED_METHODS.items() if m in set(df["method"])}
    return _accuracy_table(
        "main",
        "Accuracy (%) of few-shot action recognition, mean ± 95% interval over test episodes",
        df,
        ["method", "backbone"],
        lambda r: (r.label, f"{r.backbone} @ {r.size}px"),
        lambda row: method_order(row[0]),
        names,
        MAIN_SOURCES,
        lambda m, g: [g["backbone"].iloc[0]],
    )


def _mark(value) -> str:
    return ("✓" if value else "") if isinstance(value, bool) else str(value)


def ablation_table(df: pd.DataFrame, ab: Ablation) -> Table | None:
    """One ablation table, or ``None`` when fewer than two settings of it were run."""
    df = df[[in_ablation(r, ab) for _, r in df.iterrows()]]
    keys = [ablation_key(r, ab) for _, r in df.iterrows()]
    if len(set(keys)) < 2:
        return None
    df = df.assign(key=keys, label=variant_labels(df, exclude=ab.fields))
    n = len(ab.fields)
    rank = {tuple(map(_mark, k)): i for i, k in enumerate(ab.published)}  # the paper's order
    by_name = {p: list(map(_mark, k)) for k, p in ab.published.items()}
    return _accuracy_table(
        ab.name,
        f"Ablation: {ab.title}; accuracy (%), mean ± 95% interval",
        df,
        ["method", *ab.fields],
        lambda r: (r.label, *map(_mark, r.key)),
        lambda row: (rank.get(tuple(row[1 : 1 + n]), len(rank)), row),
        {p: ab.method for k, p in ab.published.items() if k in set(keys)},
        ((ab.source, ab.table),),
        lambda m, g: by_name.get(m, ["?"] * n),  # a published row we cannot place
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
            rows.append([f"{r['label']} - {b['label']}", r["dataset"], f"{r['shot']}-shot",
                         *paired_cells(r["summary"], b["summary"], pm="±")])  # fmt: skip
        used.append(g)
    if not rows:
        return None
    head = ["comparison", "dataset", "setting", *PAIRED_HEAD]
    notes = protocol_notes(pd.concat(used)) + [
        "Accuracy points, paired over identical episodes (same manifest); interval of the "
        "per-episode differences as above; p-values: paired t-test and Wilcoxon signed-rank."
    ]
    return Table("paired", f"Paired differences against {baseline}", head, rows, notes, lead=3)


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
    return Table("misalignment", title, ["measure", *datasets], rows, notes)


def latex_escape(text: str) -> str:
    """Escape LaTeX specials; ``±`` and ``✓`` become math symbols."""
    specials = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "±": r"$\pm$", "✓": r"$\checkmark$"}  # fmt: skip
    return "".join(specials.get(ch, ch) for ch in text)


def to_markdown(t: Table) -> str:
    """A GitHub-flavoured Markdown table with its title and notes."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"

    align = ["---"] * t.lead + ["--:"] * (len(t.header) - t.lead)
    body = [line(t.header), "| " + " | ".join(align) + " |", *map(line, t.rows)]
    return "\n".join([f"### {t.title}", "", *body, "", *[f"- {n}" for n in t.notes]]) + "\n"


def to_latex(t: Table) -> str:
    """A booktabs ``table`` (needs ``booktabs`` and ``amssymb``); notes under the tabular."""
    spec = "l" * t.lead + "r" * (len(t.header) - t.lead)
    out = [r"\begin{table}[t]", r"\centering\small", rf"\caption{{{latex_escape(t.title)}}}",
           rf"\label{{tab:{t.name}}}", rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
           " & ".join(map(latex_escape, t.header)) + r" \\", r"\midrule"]  # fmt: skip
    for i, row in enumerate(t.rows):
        if i in t.breaks:
            out.append(r"\midrule")
        out.append(" & ".join(latex_escape(str(c)) for c in row) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    out += [
        r"\par\smallskip{\footnotesize\raggedright",
        *[latex_escape(n) + r"\par" for n in t.notes],
    ]
    return "\n".join([*out, "}", r"\end{table}"]) + "\n"


def to_csv(t: Table) -> str:
    """Header and rows as CSV after ``#`` lines with the title and notes (``comment="#"``)."""
    buf = io.StringIO()
    buf.write("".join(f"# {line}\n" for line in [t.title, *t.notes]))
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(t.header)
    writer.writerows([[str(c).replace("±", "+-") for c in row] for row in t.rows])
    return buf.getvalue()


RENDER = {"md": to_markdown, "tex": to_latex, "csv": to_csv}


def write_tables(tables: list[Table], folder: Path, formats: tuple[str, ...]) -> list[Path]:
    """``<folder>/<name>.<fmt>`` for every table and format."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for t in tables:
        for f in formats:
            path = folder / f"{t.name}.{f}"
            path.write_text(RENDER[f](t), encoding="utf-8")
            out.append(path)
    return out
