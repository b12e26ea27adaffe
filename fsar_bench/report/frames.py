"""The data frames of the Python API: runs (:func:`runs_frame`) and paired comparisons
(:func:`compare_frame`), from stored results only.

:func:`runs_frame` shapes the rows of :func:`fsar_bench.report.runs.collect` (the one reader of
stored runs) into plain columns. :func:`compare_frame` pairs each run with a baseline run on the
same test manifest (the same episodes, in the same order) and computes one row per pair with
:func:`compare_row` from the stored per-episode records; its p-values are *episode-level*: they
treat the test episodes as the sample and ignore the spread between trainings.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fsar_bench.errors import FsarError
from fsar_bench.report.seeds import seed_group
from fsar_bench.results.stats import paired_difference
from fsar_bench.results.summary import RunSummary, read_summary

RUN_COLUMNS = (
    *("dataset", "method", "way", "shot", "query", "test_episodes", "train_seed", "trainings"),
    *("accuracy", "ci95", "n", "stop_reason", "train_episodes", "train_seconds"),
    *("eval_seconds", "preset", "backbone", "size", "select", "jobs", "run", "config_hash"),
    "manifest",
)

COMPARE_COLUMNS = (  # the keys of compare_row
    *("dataset", "method", "baseline", "setting", "way", "shot", "train_seed"),
    *("baseline_train_seed", "episodes", "diff", "ci95", "low", "high", "t_p_episodes"),
    *("wilcoxon_p_episodes", "wins", "losses", "run", "baseline_run"),
)


def _train_seed(s: RunSummary) -> int:
    return s.train_config.get("seed", s.setting.seed)


def runs_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Public columns (:data:`RUN_COLUMNS`) of :func:`~fsar_bench.report.runs.collect`'s rows.

    ``trainings``: runs in the frame that differ from this one only in their training seed
    (itself included); ``run``: the run folder; ``config_hash``: its run id.
    """
    if df.empty:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    s = list(df["summary"])
    groups = [seed_group(r) for _, r in df.iterrows()]
    out = df[["dataset", "method", "way", "shot", "query"]].assign(
        test_episodes=df["episodes"],
        train_seed=[_train_seed(x) for x in s],
        trainings=[groups.count(g) for g in groups],
        accuracy=df["mean"],
        ci95=df["ci95"],
        n=df["n"],
        stop_reason=[x.stop_reason for x in s],
        train_episodes=[x.train_episodes for x in s],
        train_seconds=[x.train_seconds for x in s],
        eval_seconds=[x.eval_seconds for x in s],
        preset=[x.preset for x in s],
        backbone=df["backbone"],
        size=df["size"],
        select=[x.select.get("mode", "val") for x in s],
        jobs=[x.jobs for x in s],
        run=df["dir"],
        config_hash=[Path(d).name.rsplit("-", 1)[-1] for d in df["dir"]],
        manifest=df["manifest"],
    )
    return out.reset_index(drop=True)


def compare_row(run: RunSummary, base: RunSummary) -> dict:
    """``run - base`` on their shared test episodes: one row of :func:`compare_frame`."""
    d = paired_difference(run.episode_accuracies(), base.episode_accuracies())
    st = run.setting
    return {
        "dataset": st.dataset,
        "method": run.method,
        "baseline": base.method,
        "setting": f"{st.way}-way {st.shot}-shot",
        "way": st.way,
        "shot": st.shot,
        "train_seed": _train_seed(run),
        "baseline_train_seed": _train_seed(base),
        "episodes": d.diff.n,
        "diff": d.diff.mean,
        "ci95": d.diff.ci95,
        "low": d.diff.mean - d.diff.ci95,
        "high": d.diff.mean + d.diff.ci95,
        "t_p_episodes": d.t_pvalue,
        "wilcoxon_p_episodes": d.wilcoxon_pvalue,
        "wins": d.wins,
        "losses": d.losses,
        "run": run.dir,
        "baseline_run": base.dir,
    }


def _base_of(row: pd.Series, bases: pd.DataFrame) -> pd.Series | None:
    """The baseline run on ``row``'s test manifest: the one with its training seed if there
    is one, else the first by folder."""
    same = bases[(bases["dataset"] == row["dataset"]) & (bases["manifest"] == row["manifest"])]
    if same.empty:
        return None
    seeded = same[same["train_seed"] == row["train_seed"]]
    return (seeded if len(seeded) else same).sort_values("run").iloc[0]


def compare_frame(frame: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """One :func:`compare_row` per run of ``frame`` (:func:`runs_frame` columns) that is not
    ``baseline`` and has a ``baseline`` run on its test manifest."""
    missing = {"dataset", "method", "manifest", "run", "train_seed"} - set(frame.columns)
    if missing:
        raise FsarError(
            f"compare needs a frame of fsar_bench.load_runs (missing {', '.join(sorted(missing))})"
        )
    bases = frame[frame["method"] == baseline]
    summaries: dict[str, RunSummary] = {}

    def summary(folder: str) -> RunSummary:
        if folder not in summaries:
            summaries[folder] = read_summary(folder)
        return summaries[folder]

    rows = []
    for _, r in frame[frame["method"] != baseline].iterrows():
        b = _base_of(r, bases)
        if b is not None:
            rows.append(compare_row(summary(r["run"]), summary(b["run"])))
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=list(COMPARE_COLUMNS))
