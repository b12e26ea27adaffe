"""The stored runs as a ``pandas.DataFrame``, and which of them are the full methods.

:func:`collect` reads every finished run under a results folder (one row per run, its typed
:class:`~fsar_bench.results.summary.RunSummary` in ``summary``; :func:`frame`: the same rows of
summaries in hand); :func:`main_runs` keeps the
runs whose ablation switches are all at their defaults, every training of a cell included,
labelled by the settings that tell runs of one method apart (:func:`variant_labels`; never the
training seed: a cell's trainings share a label, :mod:`fsar_bench.report.seeds`). What the
report knows about each method (ablations, neutral fields) comes from its registry entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from fsar_bench.methods import METHODS, Ablation
from fsar_bench.report.seeds import TRAIN_SEED, settings_of
from fsar_bench.results.summary import RunSummary, load_summaries


def ablations() -> list[tuple[str, Ablation]]:
    """``(method, ablation)`` of every registered method, in report order."""
    return [
        (m.name, ab)
        for m in sorted(METHODS.loadable(), key=lambda m: (m.report_rank, m.name))
        for ab in m.ablations
    ]


def collect(runs: Path) -> pd.DataFrame:
    """One row per finished run under ``runs``; ``summary`` holds its :class:`RunSummary`."""
    return frame(load_summaries(runs))


def frame(summaries: list[RunSummary]) -> pd.DataFrame:
    """One row per run summary (the rows of :func:`collect`)."""
    rows = []
    for s in summaries:
        st, acc = s.setting, s.accuracy
        rows.append(
            {
                "dataset": st.dataset,
                "method": s.method,
                "way": st.way,
                "shot": st.shot,
                "query": st.query,
                "episodes": st.episodes,
                "frames": st.frames,
                "backbone": s.backbone,
                "size": s.size,
                "manifest": s.manifest,
                "train_seed": s.training.seed,
                "mean": acc["mean"],
                "ci95": acc["ci95"],
                "n": acc["n"],
                "select": json.dumps(s.select, sort_keys=True),
                "dir": s.dir,
                "config": settings_of(s),
                "summary": s,
            }
        )
    return pd.DataFrame(rows)


def variant_labels(df: pd.DataFrame, exclude: tuple[str, ...] = ()) -> pd.Series:
    """Method name plus the settings that differ between its runs sharing a cell (never the
    training seed: a cell's trainings share their label)."""
    varying: dict[str, set[str]] = {}
    for (method, _, _, _), g in df.groupby(["method", "dataset", "way", "shot"]):
        keys = set().union(*g["config"]) - {*exclude, TRAIN_SEED}
        diff = {k for k in keys if len({c.get(k) for c in g["config"]}) > 1}
        varying.setdefault(method, set()).update(diff)

    def label(r) -> str:
        keys = sorted(varying.get(r["method"], ()))
        extra = ", ".join(f"{k}={r['config'].get(k, 'null').strip(chr(34))}" for k in keys)
        return r["method"] + (f" ({extra})" if extra else "")

    return df.apply(label, axis=1)


def ablation_key(run: pd.Series, ab: Ablation) -> tuple:
    """The run's values of ``ab.fields`` (a field its config lacks counts as the default)."""
    cfg = run["summary"].method_config
    return tuple(cfg.get(f, d) for f, d in zip(ab.fields, ab.default))


def in_ablation(run: pd.Series, method: str, ab: Ablation) -> bool:
    """Run of ``method`` whose *other* ablation switches are at their defaults."""
    if run["method"] != method:
        return False
    others = [a for m, a in ablations() if m == method and a is not ab]
    return all(ablation_key(run, o) == o.default for o in others)


def main_runs(df: pd.DataFrame) -> pd.DataFrame:
    """Runs with every ablation switch at its default (the full methods), every training of a
    cell included, labelled anew."""
    abl = ablations()
    keep = [
        all(r["method"] != m or ablation_key(r, a) == a.default for m, a in abl)
        for _, r in df.iterrows()
    ]
    df = df[keep]
    return df.assign(label=variant_labels(df))
