"""The tables ``fsar-bench run`` prints (accuracy per method and shot, paired differences), and
the cell texts and notes the report's tables share with them.

A cell trained once prints as before, ``mean +- episode half-width``, and the table says that
the training spread was not measured (:data:`ONE_TRAINING`). A cell trained ``N >= 2`` times
(or with the class level) prints the mean over its trainings, the half-width of the interval over
trainings x test episodes (x test classes), and the episode-only half-width beside it in
brackets (:mod:`fsar_bench.report.intervals`; docs/statistics.md).
"""

from __future__ import annotations

import math

from fsar_bench.options.intervals import FEW_CLASSES, IntervalOptions
from fsar_bench.report.intervals import CellStats, PairStats, cell_stats, pair_stats
from fsar_bench.report.seeds import group_trainings
from fsar_bench.report.text import table
from fsar_bench.results.hierarchy import Estimate
from fsar_bench.results.stats import paired_difference
from fsar_bench.results.summary import RunSummary

PAIRED_HEAD = ["paired diff (95% CI)", "t-test p", "Wilcoxon p", "episodes won/lost"]
TRAININGS_HEAD = [
    "trainings",
    "difference (95% CI)",
    "episodes only",
    "P(A > B) (95% CI)",
    "episode-level t-test p",
    "episode-level Wilcoxon p",
    "episodes won/lost",
]
ONE_TRAINING = "1 training: training spread not measured (--trainings 3)"
NONE = "—"


def _half(e: Estimate) -> float:
    return (e.high - e.low) / 2


def _pm(mean: float, half: float, pm: str, sign: str = "") -> str:
    if half is None or math.isnan(half):
        return f"{mean:{sign}.2f}"
    return f"{mean:{sign}.2f} {pm} {half:.2f}"


def cell_text(c: CellStats, pm: str = "+-") -> str:
    """``mean pm half`` of one training (the run's own episode interval), or, with several
    trainings or the class level, ``mean pm half [N trainings(, K classes); episodes only pm
    half]``."""
    if c.interval is None or (c.trainings == 1 and not c.class_level):
        a = c.runs[0].accuracy
        return _pm(a["mean"], a["ci95"], pm)
    est, ep = c.interval.estimate, c.interval.episode_only
    what = f"{c.trainings} training{'s' * (c.trainings > 1)}"
    what += f", {c.n_classes} classes" if c.class_level else ""
    return f"{_pm(est.mean, _half(est), pm)} [{what}; episodes only {pm} {_half(ep):.2f}]"


def paired_texts(p: PairStats, pm: str = "+-") -> list[str]:
    """The :data:`TRAININGS_HEAD` cells of one comparison."""
    c = p.comparison
    single = p.pairs == 1 and not p.class_level
    if single:  # one training each: today's episode interval of the difference
        diff = _pm(p.episode_level.diff.mean, p.episode_level.diff.ci95, pm, "+")
        episodes = NONE
    else:
        diff = _pm(c.difference.mean, _half(c.difference), pm, "+")
        episodes = _pm(c.difference_episode_only.mean, _half(c.difference_episode_only), pm, "+")
    pi = c.p_improvement
    tests = [NONE] * 3
    if p.episode_level is not None:
        d = p.episode_level
        tests = [f"{d.t_pvalue:.2g}", f"{d.wilcoxon_pvalue:.2g}", f"{d.wins}/{d.losses}"]
    n = str(p.pairs) + ("" if p.by_seed else " (by order)")
    return [n, diff, episodes, f"{pi.mean:.3f} [{pi.low:.3f}, {pi.high:.3f}]", *tests]


def interval_notes(
    trainings: list[int],
    class_level: bool,
    opts: IntervalOptions,
    paired: bool = False,
    pm: str = "±",
) -> list[str]:
    """What the intervals of a table cover, from its cells' (or pairs') numbers of trainings
    and whether the class level was used."""
    if not trainings:
        return []
    notes = []
    several = [n for n in trainings if n > 1 or class_level]
    if several:
        levels = "trainings x test episodes" + (" x test classes" * class_level)
        what = "the mean paired difference" if paired else "the mean"
        notes.append(
            f"[N trainings]: {what} over the N trainings (training seeds train.seed + 0..N-1, "
            f"one test manifest{'; paired by training seed' * paired}) {pm} the 95% interval "
            f"over {levels} (two-level bootstrap, {opts.n_boot} resamples per level, seed "
            f"{opts.seed}, Cochran-Cox critical value; docs/statistics.md); episodes only: "
            "the interval over the test episodes alone, which leaves the training spread out."
        )
    if paired:
        notes.append(
            "P(A > B): probability that A's training beats B's training of the same seed on "
            "a test episode, ties counted half (rliable's probability of improvement, "
            "paired), with its 95% interval. t-test, Wilcoxon and won/lost: episode-level, "
            "given for one training each only."
        )
    if 2 in trainings:
        notes.append("2 trainings: an approximate interval; 3 or more give 93-97 % coverage.")
    if 1 in trainings and class_level:  # every cell names its trainings and classes
        notes.append(f"{ONE_TRAINING}.")
    elif 1 in trainings:
        where = "in cells without [...] the" if several else "the"
        notes.append(f"{ONE_TRAINING}; {where} {pm} covers the test episodes only.")
    return notes


def classes_note(cells: list[CellStats], opts: IntervalOptions) -> list[str]:
    """A note when the test split has few classes and the intervals hold them fixed, or when
    the class level was asked for and cannot be estimated."""
    ks = sorted({c.n_classes for c in cells if c.n_classes and not c.class_level})
    few = [k for k in ks if k < FEW_CLASSES]
    if opts.ci == "episodes" and few:
        return [
            f"{'/'.join(map(str, few))} test classes: the intervals hold the test classes "
            "fixed; --ci classes adds their sampling (docs/statistics.md)."
        ]
    if opts.ci != "episodes" and any(c.n_classes and not c.class_level for c in cells):
        return [f"Cells without classes: {'/'.join(map(str, ks))} test classes, no class level."]
    return []


def _cells(summaries: list[RunSummary], opts: IntervalOptions) -> dict[tuple, CellStats]:
    """``(method, shot)`` -> the cell's trainings and interval."""
    return {(g[0].method, g[0].shot): cell_stats(g, opts) for g in group_trainings(summaries)}


def accuracy_table(cells: dict[tuple, CellStats]) -> str:
    """Rows: methods; columns: ``K-shot`` settings; cells :func:`cell_text`."""
    shots = sorted({k for _, k in cells})
    methods = list(dict.fromkeys(m for m, _ in cells))
    rows = [
        [m, *[cell_text(cells[m, k]) if (m, k) in cells else "" for k in shots]] for m in methods
    ]
    return table(["method", *[f"{k}-shot" for k in shots]], rows)


def paired_cells(run: RunSummary, base: RunSummary, pm: str = "+-") -> list[str]:
    """``run - base`` on the same episodes, one training each: diff (95% CI), t-test p,
    Wilcoxon p, won/lost (:data:`PAIRED_HEAD`)."""
    d = paired_difference(run.episode_accuracies(), base.episode_accuracies())
    return [
        f"{d.diff.mean:+.2f} {pm} {d.diff.ci95:.2f}",
        f"{d.t_pvalue:.2g}",
        f"{d.wilcoxon_pvalue:.2g}",
        f"{d.wins}/{d.losses}",
    ]


def paired_table(cells: dict[tuple, CellStats], baseline: str, opts: IntervalOptions) -> str:
    """Each method minus ``baseline`` on the same episodes; one training each: as before
    (:data:`PAIRED_HEAD`), else :data:`TRAININGS_HEAD`."""
    legacy = all(c.trainings == 1 and not c.class_level for c in cells.values())
    rows, pairs = [], []
    for (m, k), c in cells.items():
        b = cells.get((baseline, k))
        if m == baseline or b is None or b.runs[0].manifest != c.runs[0].manifest:
            continue
        label = [f"{m} - {baseline}", f"{k}-shot"]
        if legacy:
            rows.append([*label, *paired_cells(c.runs[0], b.runs[0])])
        elif (p := pair_stats(c.runs, b.runs, opts)) is not None:
            rows.append([*label, *paired_texts(p)])
            pairs.append(p)
    if not rows:
        return f"(no paired comparison: {baseline} not run)"
    head = ["comparison", "setting", *(PAIRED_HEAD if legacy else TRAININGS_HEAD)]
    class_level = any(p.class_level for p in pairs)
    notes = interval_notes(sorted({p.pairs for p in pairs}), class_level, opts, True, "+-")
    return "\n".join([table(head, rows), *notes])


def describe_select(select: dict) -> str:
    """A run's model selection in words (``RunSummary.select``)."""
    mode = select.get("mode", "val")
    if mode == "holdout":
        classes = ", ".join(select["classes"])
        return f"holdout:{select['k']} (best on held-out train classes {classes})"
    return {"val": "val (best on the val split)", "last": "last (final weights)"}.get(mode, mode)


def protocol_line(summaries: list[RunSummary], interval: str = "interval") -> str:
    """The protocol every table states: episodes, features, model selection, where the
    methods that are not built in come from, and one run's episode interval convention,
    labelled ``interval`` (``""``: left out)."""
    s = summaries[0]
    st = s.setting
    hashes = sorted({x.manifest[:12] for x in summaries})
    selects = sorted({describe_select(x.select) for x in summaries})
    plugins = sorted(
        {f"{x.method}: {x.method_origin}" for x in summaries if x.method_origin != "built-in"}
    )
    return (
        f"{st.dataset}: {st.way}-way, {st.episodes} test episodes x {st.query} "
        f"query/class (protocol {st.protocol}), {st.frames} frames, backbone "
        f"{s.backbone} @ {s.size}px, manifests {', '.join(hashes)}; selection: "
        f"{'; '.join(selects)}"
        + (f"; {interval}: {s.interval_convention}" if interval else "")
        + (f"; not built in: {'; '.join(plugins)}" if plugins else "")
    )


def run_tables(
    summaries: list[RunSummary], baseline: str, opts: IntervalOptions | None = None
) -> str:
    """Everything ``fsar-bench run`` prints after its runs: with one training per cell the
    tables as before and :data:`ONE_TRAINING`; else the intervals over trainings."""
    opts = opts or IntervalOptions()
    cells = _cells(summaries, opts)
    legacy = all(c.trainings == 1 and not c.class_level for c in cells.values())
    counts = sorted({c.trainings for c in cells.values()})
    class_level = any(c.class_level for c in cells.values())
    notes = [ONE_TRAINING] if legacy else interval_notes(counts, class_level, opts, pm="+-")
    parts = [
        protocol_line(summaries, "interval" if legacy else "episode interval"),
        accuracy_table(cells),
        *notes,
        "",
        paired_table(cells, baseline, opts),
    ]
    return "\n".join(parts)
