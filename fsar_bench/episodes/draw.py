"""The one episode-drawing algorithm, used by the manifests and by training.

Given a ``numpy.random.Generator`` and the videos of each class (in list order):
classes ``rng.choice(C, way, replace=False)``; then for each drawn class, in order,
``rng.choice(n_c, shot + query, replace=False)`` of its videos: the first ``shot`` are the
support, the rest the queries. Labels are ``0 .. way-1`` in the order the classes were drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

V = TypeVar("V")


def draw_episode(
    rng: np.random.Generator,
    by_class: dict[str, Sequence[V]],
    way: int,
    shot: int,
    query: int,
) -> tuple[list[str], list[list[V]], list[list[V]]]:
    """One episode: ``(classes [way], support [way][shot], query [way][query])``.

    Args:
        rng: the generator (advanced by the draw).
        by_class: class -> its videos (any item type), every class with ``>= shot + query``.
        way, shot, query: the episode's shape.
    """
    names = list(by_class)
    classes = [names[i] for i in rng.choice(len(names), way, replace=False)]
    support, queries = [], []
    for cls in classes:
        items = by_class[cls]
        pick = [items[i] for i in rng.choice(len(items), shot + query, replace=False)]
        support.append(pick[:shot])
        queries.append(pick[shot:])
    return classes, support, queries
