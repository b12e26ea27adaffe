"""The tables ``fsar-bench run`` prints: accuracy per method and shot, and paired differences."""

from __future__ import annotations

from fsar_bench.presentation.text import table
from fsar_bench.results.stats import paired_difference
from fsar_bench.results.summary import RunSummary

PAIRED_HEAD = ["paired diff (95% CI)", "t-test p", "Wilcoxon p", "episodes won/lost"]


def accuracy_table(summaries: list[RunSummary]) -> str:
    """Rows: methods; columns: ``K-shot`` settings; cells ``mean +- ci95``."""
    shots = sorted({s.shot for s in summaries})
    methods = list(dict.fromkeys(s.method for s in summaries))
    cell = {(s.method, s.shot): s for s in summaries}
    rows = []
    for m in methods:
        row = [m]
        for k in shots:
            s = cell.get((m, k))
            row.append(f"{s.accuracy['mean']:.2f} +- {s.accuracy['ci95']:.2f}" if s else "")
        rows.append(row)
    return table(["method", *[f"{k}-shot" for k in shots]], rows)


def paired_cells(run: RunSummary, base: RunSummary, pm: str = "+-") -> list[str]:
    """``run - base`` on the same episodes: diff (95% CI), t-test p, Wilcoxon p, won/lost."""
    d = paired_difference(run.episode_accuracies(), base.episode_accuracies())
    return [
        f"{d.diff.mean:+.2f} {pm} {d.diff.ci95:.2f}",
        f"{d.t_pvalue:.2g}",
        f"{d.wilcoxon_pvalue:.2g}",
        f"{d.wins}/{d.losses}",
    ]


def paired_table(summaries: list[RunSummary], baseline: str = "protonet") -> str:
    """Each method minus ``baseline`` on the same episodes (same manifest hash)."""
    base = {(s.shot, s.manifest): s for s in summaries if s.method == baseline}
    rows = []
    for s in summaries:
        b = base.get((s.shot, s.manifest))
        if s.method == baseline or b is None:
            continue
        rows.append([f"{s.method} - {baseline}", f"{s.shot}-shot", *paired_cells(s, b)])
    head = ["comparison", "setting", *PAIRED_HEAD]
    return table(head, rows) if rows else f"(no paired comparison: {baseline} not run)"


def describe_select(select: dict) -> str:
    """A run's model selection in words (``RunSummary.select``)."""
    mode = select.get("mode", "val")
    if mode == "holdout":
        classes = ", ".join(select["classes"])
        return f"holdout:{select['k']} (best on held-out train classes {classes})"
    return {"val": "val (best on the val split)", "last": "last (final weights)"}.get(mode, mode)


def protocol_line(summaries: list[RunSummary]) -> str:
    """The protocol every table states: episodes, features, model selection, and where the
    methods that are not built in come from."""
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
        f"{'; '.join(selects)}; interval: {s.interval_convention}"
        + (f"; not built in: {'; '.join(plugins)}" if plugins else "")
    )


def run_tables(summaries: list[RunSummary], baseline: str) -> str:
    """Everything ``fsar-bench run`` prints after its runs."""
    parts = [
        protocol_line(summaries),
        accuracy_table(summaries),
        "",
        paired_table(summaries, baseline),
    ]
    return "\n".join(parts)
