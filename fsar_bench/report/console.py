"""Result tables from run summaries: accuracy per method and shot, and paired differences."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fsar_bench.report.text import table
from fsar_bench.results.stats import paired_difference
from fsar_bench.results.store import accuracies, read_records


def episode_accuracies(summary: dict) -> np.ndarray:
    """Per-episode accuracies (percent) of a finished run, in manifest order."""
    return accuracies(read_records(Path(summary["dir"]) / "episodes.jsonl"))


def accuracy_table(summaries: list[dict]) -> str:
    """Rows: methods; columns: ``K-shot`` settings; cells ``mean +- ci95``."""
    shots = sorted({s["setting"]["shot"] for s in summaries})
    methods = list(dict.fromkeys(s["method"] for s in summaries))
    cell = {(s["method"], s["setting"]["shot"]): s for s in summaries}
    rows = []
    for m in methods:
        row = [m]
        for k in shots:
            s = cell.get((m, k))
            row.append(f"{s['accuracy']['mean']:.2f} +- {s['accuracy']['ci95']:.2f}" if s else "")
        rows.append(row)
    return table(["method", *[f"{k}-shot" for k in shots]], rows)


def paired_cells(run: dict, base: dict, pm: str = "+-") -> list[str]:
    """``run - base`` on the same episodes: diff (95% CI), t-test p, Wilcoxon p, won/lost."""
    d = paired_difference(episode_accuracies(run), episode_accuracies(base))
    return [
        f"{d.diff.mean:+.2f} {pm} {d.diff.ci95:.2f}",
        f"{d.t_pvalue:.2g}",
        f"{d.wilcoxon_pvalue:.2g}",
        f"{d.wins}/{d.losses}",
    ]


PAIRED_HEAD = ["paired diff (95% CI)", "t-test p", "Wilcoxon p", "episodes won/lost"]


def paired_table(summaries: list[dict], baseline: str = "protonet") -> str:
    """Each method minus ``baseline`` on the same episodes (same manifest hash)."""
    base = {(s["setting"]["shot"], s["manifest"]): s for s in summaries if s["method"] == baseline}
    rows = []
    for s in summaries:
        b = base.get((s["setting"]["shot"], s["manifest"]))
        if s["method"] == baseline or b is None:
            continue
        rows.append(
            [f"{s['method']} - {baseline}", f"{s['setting']['shot']}-shot", *paired_cells(s, b)]
        )
    head = ["comparison", "setting", *PAIRED_HEAD]
    return table(head, rows) if rows else f"(no paired comparison: {baseline} not run)"


def protocol_line(summaries: list[dict]) -> str:
    """The protocol every table states."""
    s = summaries[0]
    st = s["setting"]
    hashes = sorted({x["manifest"][:12] for x in summaries})
    return (
        f"{st['dataset']}: {st['way']}-way, {st['episodes']} test episodes x {st['query']} "
        f"query/class (protocol {st['protocol']}), {st['frames']} frames, backbone "
        f"{s['backbone']} @ {s['size']}px, manifests {', '.join(hashes)}; interval: "
        f"{s['interval_convention']}"
    )
