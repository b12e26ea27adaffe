"""Order sensitivity: a trained method on the same episodes with its query frames reordered.

An order-blind method (mean over frames) scores a query the same whatever the order of its
frames; a method that uses temporal order loses accuracy when the order is broken. The
perturbed evaluation keeps every episode, every support video and every query video of the
manifest, and changes only the order of each query's ``T`` frames:

* ``reverse``: frames ``T-1, ..., 0``;
* ``shuffle``: a permutation per query video drawn from
  ``numpy.random.default_rng([seed, crc32(video id)])`` (the same in every run and method).

The query videos are renamed ``<id>#<mode>`` inside an in-memory copy of the manifest, and the
feature loader serves the reordered frames under that name, so a video that is a support in one
episode and a query in another is reordered only where it is a query. Accuracies pair episode
by episode with the unperturbed evaluation of the same manifest.
"""

from __future__ import annotations

import copy
import zlib
from collections.abc import Callable

import numpy as np
import torch

from fsar_bench.episodes.manifest import Manifest

MODES = ("reverse", "shuffle")
Loader = Callable[[list[str]], torch.Tensor]


def frame_order(video_id: str, frames: int, mode: str, seed: int = 0) -> np.ndarray:
    """The frame order ``[T]`` a query video is shown in."""
    if mode == "reverse":
        return np.arange(frames)[::-1].copy()
    if mode == "shuffle":
        rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
        return rng.permutation(frames)
    raise ValueError(f"unknown order perturbation {mode!r}; choose from {', '.join(MODES)}")


def perturb_queries(
    manifest: Manifest, load: Loader, mode: str, seed: int = 0
) -> tuple[Manifest, Loader]:
    """``(manifest, loader)`` whose queries are the original ones with reordered frames.

    Args:
        manifest: the episodes (not modified).
        load: ``load(ids) -> [V, T, ...]`` features of the original videos.
        mode: ``reverse`` or ``shuffle``.
        seed: seed of ``shuffle``.
    """
    if mode not in MODES:
        raise ValueError(f"unknown order perturbation {mode!r}; choose from {', '.join(MODES)}")
    data = copy.deepcopy(manifest.data)
    suffix = f"#{mode}"
    for ep in data["episodes"]:
        ep["query"] = [[v + suffix for v in group] for group in ep["query"]]
    renamed = Manifest(
        spec=manifest.spec, data=data, sha256=f"{manifest.sha256}{suffix}", path=None
    )

    def perturbed_load(ids: list[str]) -> torch.Tensor:
        base = [i.removesuffix(suffix) for i in ids]
        x = load(base)  # [V, T, ...]
        for k, (vid, orig) in enumerate(zip(ids, base)):
            if vid != orig:
                order = torch.as_tensor(frame_order(orig, x.shape[1], mode, seed))
                x[k] = x[k, order]
        return x

    return renamed, perturbed_load
