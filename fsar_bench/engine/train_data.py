"""What a training reads: :class:`TrainData`, and the seeded draw of training episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fsar_bench.data.index import SplitIndex
from fsar_bench.episodes.draw import draw_episode
from fsar_bench.episodes.manifest import Manifest

ViewLoader = Callable[[list[str], list[int] | None], torch.Tensor]


@dataclass(frozen=True, kw_only=True)
class TrainData:
    """What a trainer reads: the train split's views and the validation manifest.

    Attributes:
        index: the train split (classes with no video are ignored).
        views: cached training views per video (0: one deterministic clip per video).
        load: ``load(ids, views)`` -> float32 features ``[V, T, ...]`` of the train split.
        val_manifest: fixed, seeded episodes of the **validation** split; ``None`` (``--select
            last``): no validation, the final weights are kept as ``best.safetensors``.
        val_load: ``val_load(ids)`` -> features of the validation manifest's videos.
        way, shot: the episodes' shape (training queries per class: ``TrainConfig.query``).
        prefetch: ``prefetch(ids, views)``: the batch ``load`` will most likely be asked for
            next (a hint; ``None``: no read-ahead).
    """

    index: SplitIndex
    views: int
    load: ViewLoader
    val_manifest: Manifest | None
    val_load: Callable[[list[str]], torch.Tensor] | None
    way: int = 5
    shot: int = 1
    prefetch: Callable[[list[str], list[int] | None], None] | None = None


def draw_training_episode(
    rng: np.random.Generator, by_class: dict[str, list], way: int, shot: int, query: int
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """One training episode (the manifests' draw): support ids ``[N*K]``, labels, query ids
    ``[N*Q]``, labels."""
    _, sup, qry = draw_episode(rng, by_class, way, shot, query)
    sup_lab = np.repeat(np.arange(way), shot)
    qry_lab = np.repeat(np.arange(way), query)
    return (
        [v.video_id for s in sup for v in s],
        sup_lab,
        [v.video_id for q in qry for v in q],
        qry_lab,
    )


def episode_rng(seed: int, rank: int = 0, world: int = 1) -> np.random.Generator:
    """The training episodes' generator of one rank: seeded by ``seed`` in one process, by
    ``(seed, rank)`` among ``world > 1`` processes (independent streams). Nothing else (not
    the method, not the batch size) enters, so training ``s`` of every method draws the same
    episodes where way, shot and training queries agree (docs/statistics.md)."""
    return np.random.default_rng(seed if world == 1 else [seed, rank])
