"""The tables of ``docs/scale.md`` from ``bench_scale.py`` results.

``python benchmarks/scale_table.py RESULT.json ... [--before BEFORE.json ...]`` prints, as
Markdown: the measured stages of every result (wall and CPU seconds, peak memory), the growth
from the smallest to each larger fraction against the growth of what the stage reads, and each
stage extrapolated to F = 1 by a least-squares line through the measured fractions in the count
the stage scales with (see ``DRIVERS``); ``--before`` adds the same rows for the code before the
fixes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

# what each stage's work is proportional to (besides a constant): a function of the split sizes
DRIVERS = {
    "prepare": ("videos", lambda v: v["train"] + v["val"] + v["test"]),
    "manifests": ("videos", lambda v: v["train"] + v["val"] + v["test"]),
    "estimate": ("videos", lambda v: v["train"] + v["val"] + v["test"]),
    "extract": ("frames", lambda v: 32 * v["train"] + 8 * (v["val"] + v["test"])),
    "train": ("train videos", lambda v: v["train"]),
    "evaluate": ("test videos", lambda v: v["test"]),
    "report": ("runs", lambda v: 1),
}
FULL = {"ssv2_full": {"train": 67013, "val": 1926, "test": 2857}}


def load(paths: list[Path]) -> list[dict]:
    runs = [json.loads(Path(p).read_text()) for p in paths]
    return sorted(runs, key=lambda r: r["fraction"])


def measured(runs: list[dict], label: str = "") -> str:
    """Stage x fraction: wall s / CPU s / peak RSS MB / peak anonymous MB."""
    head = "| stage | " + " | ".join(
        f"F = {r['fraction']} ({r['videos']:,} videos){label}" for r in runs
    )
    lines = [head + " |", "|---" * (len(runs) + 1) + "|"]
    for stage in runs[0]["stages"]:
        cells = []
        for r in runs:
            s = r["stages"].get(stage)
            cells.append(
                f"{s['seconds']:.0f} s / {s.get('cpu_seconds', float('nan')):.1f} s CPU / "
                f"{s['peak_rss_mb']:.0f} MB / {s['peak_tree_anon_mb']:.0f} MB"
                if s
                else ""
            )
        lines.append(f"| {stage} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def growth(runs: list[dict]) -> str:
    """From the smallest fraction to each larger one: driver, CPU time and memory ratios."""
    base = runs[0]
    lines = [
        "| stage | driver | "
        + " | ".join(
            f"x{r['fraction'] / base['fraction']:g} F: driver / CPU time / peak RSS / anon"
            for r in runs[1:]
        )
        + " |"
    ]
    lines.append("|---" * (len(runs) + 1) + "|")
    for stage, (name, f) in DRIVERS.items():
        if stage not in base["stages"]:
            continue
        b = base["stages"][stage]
        cells = []
        for r in runs[1:]:
            s = r["stages"][stage]
            drive = f(r["data"]["videos"]) / f(base["data"]["videos"])
            cpu = s["cpu_seconds"] / b["cpu_seconds"]
            rss, anon = (
                s["peak_rss_mb"] / b["peak_rss_mb"],
                s["peak_tree_anon_mb"] / b["peak_tree_anon_mb"],
            )
            cells.append(f"{drive:.2f} / {cpu:.2f} / {rss:.2f} / {anon:.2f}")
        lines.append(f"| {stage} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def extrapolate(runs: list[dict]) -> str:
    """Each stage's CPU seconds at F = 1: a least-squares line ``a + b x driver`` through the
    measured fractions when their drivers span at least 2x; otherwise the range from the
    largest measurement (the driver's part negligible) to that measurement scaled with the
    driver (everything proportional). Wall seconds: the CPU seconds times the wall/CPU ratio
    of the largest run (its machine load)."""
    full = FULL[runs[0]["dataset"]]
    lines = ["| stage | driver at F = 1 | CPU s at F = 1 | how | wall s at the load measured |"]
    lines.append("|---|---|---|---|---|")
    last = runs[-1]
    for stage, (name, f) in DRIVERS.items():
        if stage not in last["stages"]:
            continue
        x = np.array([f(r["data"]["videos"]) for r in runs], dtype=float)
        y = np.array([r["stages"][stage]["cpu_seconds"] for r in runs])
        ratio = last["stages"][stage]["seconds"] / last["stages"][stage]["cpu_seconds"]
        if x.max() >= 2 * x.min():
            b, a = np.polyfit(x, y, 1)
            cpu, how = f"{a + b * f(full):,.0f}", f"fit: {a:.1f} + {b:.3g} x driver"
            wall = f"{(a + b * f(full)) * ratio:,.0f}"
        else:
            hi = y[-1] * f(full) / x[-1]
            cpu, how = f"{y[-1]:,.0f} - {hi:,.0f}", "largest run, up to x driver ratio"
            wall = f"{y[-1] * ratio:,.0f} - {hi * ratio:,.0f}"
        lines.append(f"| {stage} | {f(full):,} {name} | {cpu} | {how} | {wall} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--before", nargs="*", type=Path, default=[])
    args = p.parse_args()
    runs = load(args.results)
    print(measured(runs), "\n")
    if args.before:
        print(measured(load(args.before), " before"), "\n")
    print(growth(runs), "\n")
    print(extrapolate(runs))


if __name__ == "__main__":
    main()
