"""Training-spread table: how much a cell's accuracy moves when only the training seed does.

A run's episode interval covers the sampling of test episodes for *one* trained model. Two
trainings of one method that differ only in ``train.seed`` (initialisation, training episodes,
dropout; ``--trainings N`` or ``--set train.seed=S``, :mod:`fsar_bench.report.seeds`) can land
further apart than that interval; this table shows each training. One row per cell (dataset,
way, shot, test manifest) and method settings with at least two training seeds: the number of
trainings, each seed's accuracy, their mean (the main table's cell), sample standard deviation
(``ddof=1``) and range, and the mean of the runs' episode intervals beside it.
"""

from __future__ import annotations

import statistics

import pandas as pd

from fsar_bench.report.render import Table
from fsar_bench.report.runs import variant_labels
from fsar_bench.report.seeds import TRAIN_SEED, seed_group, train_seed
from fsar_bench.report.tables import dataset_order, method_order, protocol_notes

HEADER = [
    "method",
    "dataset",
    "setting",
    "trainings",
    "accuracy per train.seed",
    "mean",
    "SD",
    "min-max",
    "± episodes (mean)",
]


def _row(g: pd.DataFrame) -> list[str]:
    """One cell's row from its runs ``g`` (labelled, one per training seed)."""
    g = g.assign(seed=[train_seed(r) for _, r in g.iterrows()])
    g = g.sort_values("seed")
    acc = list(g["mean"])
    per_seed = ", ".join(f"{s}: {a:.2f}" for s, a in zip(g["seed"], acc, strict=True))
    r = g.iloc[0]
    return [
        r["label"],
        r["dataset"],
        f"{r['shot']}-shot",
        str(len(g)),
        per_seed,
        f"{statistics.mean(acc):.2f}",
        f"{statistics.stdev(acc):.2f}",
        f"{min(acc):.2f}-{max(acc):.2f}",
        f"{g['ci95'].mean():.2f}",
    ]


def _order(r: pd.Series) -> tuple:
    return (dataset_order(r["dataset"]), int(r["way"]), int(r["shot"]), method_order(r["label"]))


def spread_table(df: pd.DataFrame) -> Table | None:
    """The table from the full methods' runs ``df`` (:func:`~fsar_bench.report.runs.main_runs`),
    or ``None`` when no cell has two training seeds."""
    if len(df) == 0:
        return None
    df = df.assign(
        group=[seed_group(r) for _, r in df.iterrows()],
        label=variant_labels(df, exclude=(TRAIN_SEED,)),
    )
    cells = [g for _, g in df.groupby("group", sort=False) if len(g) > 1]
    if not cells:
        return None
    cells.sort(key=lambda g: _order(g.iloc[0]))
    notes = protocol_notes(pd.concat(cells)) + [
        "Trainings that differ only in train.seed (initialisation, training episodes, dropout), "
        "evaluated on the same test episodes. SD: sample standard deviation over the "
        "trainings. ± episodes: the mean 95% half-width of one run over its test episodes, "
        "which does not include this spread. The main table's cell is the mean of these "
        "trainings, with its interval over trainings x test episodes."
    ]
    title = "Training spread: one cell trained with several training seeds"
    return Table(
        name="training_spread",
        title=title,
        header=HEADER,
        rows=[_row(g) for g in cells],
        notes=notes,
        lead=3,
    )
