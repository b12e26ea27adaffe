"""Retrainings: runs of one cell that differ only in their training seed (``train.seed``).

``fsar-bench run --set train.seed=S`` trains a method again on the same test and validation
episodes with another initialisation, other training episodes and other dropout
(:class:`~fsar_bench.engine.schedule.TrainConfig`). Such a run is a *retraining* of the cell when
the run whose training seed equals its test seed (``--seed``, the default) exists. The main
and paired tables and the learning curves show that run only; the training-spread table
(:mod:`fsar_bench.report.spread`) summarises all of them.
"""

from __future__ import annotations

import pandas as pd

TRAIN_SEED = "train.seed"


def seed_group(r: pd.Series) -> tuple:
    """A run's cell (dataset, way, shot, test manifest), method and settings except
    ``train.seed`` (``r``: a row of :func:`fsar_bench.report.runs.collect`)."""
    cfg = tuple(sorted((k, v) for k, v in r["config"].items() if k != TRAIN_SEED))
    return (r["dataset"], r["way"], r["shot"], r["manifest"], r["method"], cfg)


def train_seed(r: pd.Series) -> int:
    """The run's training seed (a config without one: its test seed, as ``run`` resolves it)."""
    s = r["summary"]
    return s.train_config.get("seed", s.setting.seed)


def own_seed(r: pd.Series) -> bool:
    """The run's training seed is its test seed (no ``--set train.seed`` apart)."""
    return train_seed(r) == r["summary"].setting.seed


def is_retraining(df: pd.DataFrame) -> pd.Series:
    """Boolean per run: another training seed of a cell whose own-seed run is in ``df``."""
    groups = [seed_group(r) for _, r in df.iterrows()]
    own = [own_seed(r) for _, r in df.iterrows()]
    has_own = {g for g, o in zip(groups, own, strict=True) if o}
    flags = [not o and g in has_own for g, o in zip(groups, own, strict=True)]
    return pd.Series(flags, index=df.index, dtype=bool)
