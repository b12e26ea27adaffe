"""Model selection of ``fsar-bench run``: ``--select val | last | holdout:K``.

* ``val`` (default, the papers): a seeded manifest of the **validation** split picks the best
  weights during training.
* ``last``: no validation; the weights after the last training episode are evaluated.
* ``holdout:K``: ``K`` training classes, drawn with the run's seed among those with videos and
  never a class of the test split, leave training and form the validation manifest
  (``min(N, K)``-way episodes, ``N`` the run's way). For data without a usable validation split,
  such as the real SSv2 sample (its ``val`` folders hold OTAM *train* classes). The train split
  has no test-time clip in the cache, so a held-out video is read as its first cached training
  view (a seeded clip of the training sampling), not as the test-time sampling.

The choice is recorded in every run's ``config.json`` and summary as ``select``
(``{"mode": "holdout", "k": 2, "seed": 0, "classes": [...]}``; ``{"mode": "val"}``;
``{"mode": "last"}``) and shown in the protocol line of the printed and reported tables.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fsar_bench.data.index import SplitIndex
from fsar_bench.errors import FsarError

MODES = ("val", "last", "holdout:K")
OPTIONS = (
    "--select holdout:K (K training classes held out as validation) or --select last (keep the "
    "final weights)"
)


@dataclass(frozen=True, kw_only=True)
class Selection:
    """A parsed ``--select``: ``mode`` is ``val``, ``last`` or ``holdout`` (with ``k``)."""

    mode: str
    k: int = 0

    def __str__(self) -> str:
        return f"holdout:{self.k}" if self.mode == "holdout" else self.mode

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits a run reads (the val split only when it selects)."""
        return ("train", "val", "test") if self.mode == "val" else ("train", "test")


def parse_select(text: str) -> Selection:
    """``"val"``, ``"last"`` or ``"holdout:K"`` (``K >= 2``), or a one-line error."""
    mode, sep, k = text.strip().lower().partition(":")
    if not sep and mode in ("val", "last"):
        return Selection(mode=mode)
    if mode == "holdout" and k.isascii() and k.isdigit() and int(k) >= 2:
        return Selection(mode="holdout", k=int(k))
    raise FsarError(f"--select {text!r}: choose val, last or holdout:K with K >= 2 classes")


def with_classes(index: SplitIndex, classes: set[str], keep: bool) -> SplitIndex:
    """The split restricted to ``classes`` (``keep``) or to every other class."""
    chosen = tuple(c for c in index.split.classes if (c in classes) == keep)
    split = dataclasses.replace(
        index.split, classes=chosen, videos=tuple(v for v in index.split.videos if v[1] in chosen)
    )
    videos = [v for v in index.videos if v.class_key in chosen]
    missing = [m for m in index.missing if m[1] in chosen]
    return dataclasses.replace(index, split=split, videos=videos, missing=missing)


def holdout(
    train: SplitIndex, test: SplitIndex, k: int, seed: int, way: int
) -> tuple[SplitIndex, SplitIndex, tuple[str, ...]]:
    """Hold ``k`` seeded training classes out: ``(train left, held out, their class keys)``.

    Candidates are the train classes with videos that are not test classes, in list order;
    ``numpy.random.default_rng(seed)`` picks ``k`` of them. At least ``way`` classes must stay
    for training episodes.
    """
    test_classes = set(test.split.classes)
    candidates = [c for c, v in train.by_class().items() if v and c not in test_classes]
    if len(candidates) - k < way:
        raise FsarError(
            f"--select holdout:{k}: the train split has {len(candidates)} classes with videos; "
            f"holding {k} out leaves {len(candidates) - k}, but {way}-way training episodes "
            f"need {way}; lower K or --way, or use --select last"
        )
    picked = np.sort(np.random.default_rng(seed).choice(len(candidates), k, replace=False))
    held = tuple(candidates[i] for i in picked)
    return with_classes(train, set(held), False), with_classes(train, set(held), True), held


def check_val_split(index: SplitIndex, dataset: str, way: int) -> None:
    """``--select val`` needs ``way`` validation classes with videos; else name the options."""
    n = sum(1 for v in index.by_class().values() if v)
    if n < way:
        raise FsarError(
            f"the {dataset} val split has {n} classes with videos, but {way}-way validation "
            f"episodes need {way}; select the weights another way: {OPTIONS}"
        )


def record(selection: Selection, seed: int, held: tuple[str, ...] = ()) -> dict:
    """What a run's config and summary record as ``select``."""
    if selection.mode != "holdout":
        return {"mode": selection.mode}
    return {"mode": "holdout", "k": selection.k, "seed": seed, "classes": list(held)}


def select_indexes(
    indexes: dict[str, SplitIndex], selection: Selection, seed: int, way: int
) -> tuple[dict[str, SplitIndex], dict]:
    """The run's split indexes and its ``select`` record; ``holdout`` replaces ``train`` by the
    classes left for training and adds ``holdout`` (the held-out classes)."""
    if selection.mode != "holdout":
        return indexes, record(selection, seed)
    train, held_out, held = holdout(indexes["train"], indexes["test"], selection.k, seed, way)
    return {**indexes, "train": train, "holdout": held_out}, record(selection, seed, held)


def check_selection(
    indexes: dict[str, SplitIndex], selection: Selection, dataset: str, seed: int, way: int
) -> None:
    """Fail before any extraction when the selection cannot work on the indexed videos."""
    if selection.mode == "val":
        check_val_split(indexes["val"], dataset, way)
    select_indexes(indexes, selection, seed, way)
