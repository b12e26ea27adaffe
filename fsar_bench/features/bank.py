"""Fast batched reads of a feature store for training: memory-mapped maps, pooled features in RAM.

:class:`FeatureStore.get <fsar_bench.features.cache.FeatureStore.get>` reads one video at a
time through ``safetensors``; a training step needs hundreds of videos (``E`` episodes of
``N * (K + Q)`` videos), so :class:`FeatureBank` gathers them in one call instead:

* **Maps** (``[T, C, h, w]`` per video or view, float16 on disk) are never copied: each shard's
  data section is memory-mapped once (``numpy.memmap``; the safetensors header gives every
  tensor's byte range), and a gather copies only the rows it selects, converted to float32.
  Resident memory is what the operating system keeps in its page cache, shared between
  processes and evicted under pressure; the process itself holds only the gathered batch.
* **Pooled** features (``[T, C]``, the spatial mean) are computed once, in float32 with the same
  operations as ``FeatureStore.get(pooled=True)`` (so the values are bit-identical), into one
  tensor ``[N, V, T, C]`` (``[N, T, C]`` for a val/test store) held in RAM, when it needs at most
  ``max_bytes`` (default :data:`POOLED_BYTES`, 2 GiB, or ``FSAR_BANK_MB`` megabytes). Sizes: the
  synthetic train store (1,280 videos x 4 views x 8 frames x 1,280 channels) needs 210 MB; a
  6,400-video train split (SSv2-small, Kinetics-100) with 4 views 1.05 GB. A larger store is
  pooled per gather from the memory map instead (same values, slower), so memory stays bounded.

Rows follow :attr:`FeatureStore.video_ids`; :meth:`FeatureBank.load` takes video ids (and views)
like the loaders of :mod:`fsar_bench.engine.run`.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from fsar_bench.errors import FsarError
from fsar_bench.features.cache import FeatureStore, check_finite
from fsar_bench.features.shardfile import shard_layout

POOLED_BYTES = 2 << 30  # largest pooled bank held in RAM (override: FSAR_BANK_MB)
_DTYPES = {"F16": np.float16, "F32": np.float32, "BF16": None}


def shard_tensors(path: Path, store: Path | None = None) -> dict[str, np.ndarray]:
    """Memory-mapped, read-only views of a safetensors file's float tensors (no copy).

    The file's layout is checked first (:func:`~fsar_bench.features.shardfile.shard_layout`:
    offsets inside the file, ordered, not overlapping, sizes matching dtype and shape); an
    invalid file is a one-line error saying to delete ``store`` and extract again.
    """
    layout = shard_layout(path, store)
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=layout.data_start)
    out = {}
    for name, (dtype, shape, (lo, hi)) in layout.tensors.items():
        if _DTYPES.get(dtype) is not None:
            out[name] = data[lo:hi].view(_DTYPES[dtype]).reshape(shape)
    return out


def _tensor(a: np.ndarray) -> torch.Tensor:
    """A tensor sharing a read-only memory map (only ever read: every use copies)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "The given NumPy array is not writable"
        return torch.from_numpy(a)


def pooled_budget() -> int:
    """Bytes a pooled bank may take in RAM (``FSAR_BANK_MB`` megabytes, else 2 GiB)."""
    mb = os.environ.get("FSAR_BANK_MB")
    if not mb:
        return POOLED_BYTES
    try:
        value = float(mb)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise FsarError(f"FSAR_BANK_MB={mb!r}: expected a number of megabytes (e.g. 2048)")
    return int(value * (1 << 20))


class FeatureBank:
    """Batched float32 reads of one store; see the module docstring.

    Args:
        store: a complete :class:`FeatureStore`.
        pooled: read spatially averaged features ``[T, C]`` instead of maps ``[T, C, h, w]``.
        max_bytes: largest pooled bank kept in RAM (default :func:`pooled_budget`).

    Example::

        bank = FeatureBank(train_store, pooled=True)
        x = bank.load(["v1", "v2"], [0, 3])     # [2, T, C] float32: view 0 of v1, view 3 of v2
    """

    def __init__(self, store: FeatureStore, pooled: bool, max_bytes: int | None = None) -> None:
        if not pooled and not store.meta.maps:
            raise FsarError(f"{store.folder} is pooled-only; this method needs spatial maps")
        self.store, self.pooled = store, pooled
        self.views = store.meta.views
        self.row = {v: i for i, v in enumerate(store.video_ids)}
        files: dict[str, dict[str, np.ndarray]] = {}
        for name in sorted(set(store.shards.values())):
            files[name] = shard_tensors(store.folder / name, store.folder)
        self.maps = [files[store.shards[v]][v] for v in store.video_ids]  # [V?, T, C, h, w]
        self.ram: torch.Tensor | None = None
        if pooled and self.pooled_bytes <= (pooled_budget() if max_bytes is None else max_bytes):
            self.ram = check_finite(torch.stack([self._pool(_tensor(m)) for m in self.maps]), store)

    @property
    def pooled_bytes(self) -> int:
        """Size of the pooled bank: ``N * max(V, 1) * T * C * 4`` bytes."""
        shape = self.maps[0].shape[:-2] if self.store.meta.maps else self.maps[0].shape
        return len(self.maps) * int(np.prod(shape)) * 4

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        """float32 and, for maps, the spatial mean (``FeatureStore.get(pooled=True)``'s ops)."""
        x = x.float()
        return x.mean(dim=(-2, -1)) if self.store.meta.maps else x

    def rows(self, video_ids: Sequence[str]) -> list[int]:
        try:
            return [self.row[v] for v in video_ids]
        except KeyError as err:
            folder = self.store.folder
            raise KeyError(f"video {err.args[0]!r} has no features in {folder}") from None

    def load(self, video_ids: Sequence[str], views: Sequence[int] | None = None) -> torch.Tensor:
        """Features of ``video_ids``: ``[B, T, C]`` pooled or ``[B, T, C, h, w]`` maps, float32.

        Args:
            views: one training view per video (train store); ``None`` for a val/test store.
        """
        rows = self.rows(video_ids)
        if (views is None) != (not self.views):
            need = "one view per video" if self.views else "no views (a val/test store)"
            raise ValueError(f"{self.store.folder}: give {need}")
        if views is not None and not all(0 <= w < self.views for w in views):
            raise IndexError(f"views must be in 0..{self.views - 1}")
        if self.ram is not None:
            if views is None:
                return self.ram[rows]
            return self.ram[torch.as_tensor(rows), torch.as_tensor(list(views))]
        picked = [
            self.maps[r] if views is None else self.maps[r][w]
            for r, w in zip(rows, views if views is not None else rows)
        ]
        out = torch.empty(len(picked), *picked[0].shape) if picked else torch.empty(0)
        for i, a in enumerate(picked):  # one pass: float16 memory map -> float32 batch
            out[i].copy_(_tensor(a))
        check_finite(out, self.store)
        return out.mean(dim=(-2, -1)) if self.pooled and self.store.meta.maps else out
