"""A cell's trainings: runs that differ only in their training seed (``train.seed``).

``fsar-bench run --trainings N`` trains every cell N times with the training seeds ``train.seed
+ 0 .. N-1`` (initialisation, training episodes, dropout) on one test manifest; ``--set
train.seed=S`` makes the same runs one at a time. Every such run is one *training* of its cell
(:func:`cell_key`: dataset, way, shot, test manifest, method and every setting but the training
seed). Tables show a cell's mean over its trainings (:mod:`fsar_bench.report.intervals`);
methods are compared training by training, paired by training seed (:func:`pair_trainings`);
figures that draw one run per cell take its first training (:func:`first_trainings`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

import pandas as pd

from fsar_bench.methods import METHODS
from fsar_bench.results.summary import RunSummary

TRAIN_SEED = "train.seed"


def _neutral(method: str) -> tuple[str, ...]:
    return METHODS.get(method).neutral_fields if method in METHODS else ()


def settings_of(s: RunSummary) -> dict[str, str]:
    """The settings that can tell two runs of one method apart, as JSON strings."""
    st = dataclasses.asdict(s.setting)
    out = {"preset": s.preset, "backbone": s.backbone, "size": s.size, "finetune": s.finetune}
    neutral = _neutral(s.method)
    out |= {k: v for k, v in s.method_config.items() if k not in neutral}
    out |= {f"train.{k}": v for k, v in s.train_config.items()}
    out |= {k: st.get(k) for k in ("episodes", "query", "frames", "seed", "repeats", "protocol")}
    out["manifest"] = s.manifest[:12]
    mode = s.select.get("mode", "val")
    out["select"] = f"holdout:{s.select['k']}" if mode == "holdout" else mode
    return {k: json.dumps(v, sort_keys=True) for k, v in out.items()}


def cell_key(s: RunSummary) -> tuple:
    """The run's cell (dataset, way, shot, test manifest), method and settings except the
    training seed: equal for the trainings of one cell."""
    cfg = tuple(sorted((k, v) for k, v in settings_of(s).items() if k != TRAIN_SEED))
    st = s.setting
    return (st.dataset, st.way, st.shot, s.manifest, s.method, cfg)


def seed_group(r: pd.Series) -> tuple:
    """:func:`cell_key` of a row of :func:`fsar_bench.report.runs.collect`."""
    return cell_key(r["summary"])


def train_seed(r: pd.Series) -> int:
    """The training seed of a row of :func:`fsar_bench.report.runs.collect`."""
    return r["summary"].training.seed


def own_seed(r: pd.Series) -> bool:
    """The run's training seed is its test seed (no ``--set train.seed`` apart)."""
    return train_seed(r) == r["summary"].setting.seed


def group_trainings(summaries: Iterable[RunSummary]) -> list[tuple[RunSummary, ...]]:
    """The runs grouped by cell (:func:`cell_key`), in first-seen order; each group sorted by
    training seed, one run per seed (the first found)."""
    groups: dict[tuple, dict[int, RunSummary]] = {}
    for s in summaries:
        groups.setdefault(cell_key(s), {}).setdefault(s.training.seed, s)
    return [tuple(g[k] for k in sorted(g)) for g in groups.values()]


def pair_trainings(
    a: tuple[RunSummary, ...], b: tuple[RunSummary, ...]
) -> tuple[list[tuple[RunSummary, RunSummary]], bool]:
    """Trainings of two cells on one test manifest, paired: by training seed where they share
    seeds (training ``s`` of A with training ``s`` of B: the same training episodes where their
    shapes agree), else by order (``False``: no seed in common). ``a``, ``b``: sorted by seed."""
    seeds_b = {s.training.seed: s for s in b}
    by_seed = [(x, seeds_b[x.training.seed]) for x in a if x.training.seed in seeds_b]
    if by_seed:
        return by_seed, True
    return list(zip(a, b)), False


def first_trainings(df: pd.DataFrame) -> pd.DataFrame:
    """One run per cell of ``df`` (rows of :func:`~fsar_bench.report.runs.collect`): the
    training whose seed is the test seed (``--seed``, the default), else the lowest seed."""
    if len(df) == 0:
        return df
    order = df.assign(
        _group=[seed_group(r) for _, r in df.iterrows()],
        _other=[not own_seed(r) for _, r in df.iterrows()],
        _seed=[train_seed(r) for _, r in df.iterrows()],
    )
    keep = order.sort_values(["_other", "_seed"], kind="stable").drop_duplicates("_group").index
    return df.loc[[i for i in df.index if i in set(keep)]]
