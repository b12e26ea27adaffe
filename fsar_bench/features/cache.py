"""The on-disk feature store: per-video frame features, read lazily.

Layout of one store (one dataset split under one key, see :mod:`fsar_bench.features.extract`)::

    <cache>/features/<dataset>/<key>/
        settings.json            everything hashed into <key> (written first)
        shard-00000.safetensors  per video "<id>": float16 [T, C, h, w] (val/test) or
                                 [V, T, C, h, w] (train views); "<id>#idx": int32 frame
                                 indices [T] or [V, T]; header metadata: the shard's videos and
                                 the ones that failed (id -> reason)
        ...
        meta.json                written last, atomically: shapes, video -> shard, failures,
                                 how the numbers were computed (device, precision, torch)
        failed.txt               "<id>\t<reason>" per video that could not be read

``<key>`` is the first 24 hex digits of the SHA-256 of :func:`split_settings` (everything that
changes the numbers: data, lists, backbone and weights, sampling, sizes, code version), so a
stale or foreign store is never found under the key asked for.

Pooled-only stores (``maps`` false) hold ``[T, C]`` / ``[V, T, C]`` per video. A store is complete
when ``meta.json`` reads and every shard it lists has a valid layout (:func:`store_complete`); every
file is written atomically (:mod:`fsar_bench.files`), and a shard that does not open (truncated,
foreign) is deleted and redone. Features read back are checked to be finite (a NaN in a corrupt
cache is an error, not a 20 % result). Tensors are read with ``safetensors.safe_open``
(memory-mapped), one video (or one view) at a time, converted and pooled video by video into one
float32 batch (the same numbers as converting the whole batch at once, about twice as fast: the
working set stays in the caches).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from fsar_bench.errors import FsarError
from fsar_bench.features.settings import store_dir
from fsar_bench.features.shardfile import layout_or_none
from fsar_bench.files import atomic_path, dumps, read_json

STORE_FORMAT = 1
IDX_SUFFIX = "#idx"


def shard_name(k: int) -> str:
    return f"shard-{k:05d}.safetensors"


CHECK_ELEMENTS = 1 << 22  # 16 MB of float32 per finiteness check


def check_finite(x: torch.Tensor, store: FeatureStore) -> torch.Tensor:
    """``x``, or a one-line error when it holds NaN or infinity (a corrupt cache must not be
    scored as features). Checked in slices of at most :data:`CHECK_ELEMENTS` elements:
    ``torch.isfinite`` of a whole pooled bank made temporaries of its size (``abs`` and two
    masks), which raised the training's peak memory (measured: ``docs/scale.md``)."""
    flat = x.reshape(-1)
    if not all(
        bool(torch.isfinite(flat[i : i + CHECK_ELEMENTS]).all())
        for i in range(0, flat.numel(), CHECK_ELEMENTS)
    ):
        raise FsarError(
            f"non-finite features (NaN or infinity) read from {store.folder}; the cache is "
            "corrupt: delete that folder and extract again"
        )
    return x


def write_shard(
    folder: Path,
    k: int,
    tensors: dict[str, torch.Tensor],
    videos: list[str],
    failed: dict,
    compute: str,
) -> None:
    """Write shard ``k`` atomically.

    Args:
        tensors: ``"<id>"`` features and ``"<id>#idx"`` frame indices of the videos read.
        videos: all ids planned for the shard, in order; ``failed``: id -> reason.
        compute: how the numbers were computed (device, precision, torch version).
    """
    meta = {"videos": videos, "failed": failed, "compute": compute}
    # one metadata entry: safetensors writes several in hash-map (random) order
    with atomic_path(folder / shard_name(k)) as tmp:
        save_file(tensors, str(tmp), metadata={"fsar": dumps(meta, sort_keys=True)})


def read_shard(path: Path) -> dict | None:
    """A shard's ``videos``, ``failed`` and ``compute``; ``None`` if it is missing or broken
    (its layout is checked first: :mod:`~fsar_bench.features.shardfile`)."""
    if layout_or_none(path) is None:
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["fsar"])
            stored = set(f.keys())
        expected = {v for v in meta["videos"] if v not in meta["failed"]}
    except (OSError, SafetensorError, KeyError, ValueError, TypeError):
        return None
    return meta if stored == expected | {v + IDX_SUFFIX for v in expected} else None


def store_complete(folder: Path) -> bool:
    """Whether ``folder`` holds a complete store: ``meta.json`` parses and names this key, and
    every shard it lists is present with a valid layout (else it is redone)."""
    data = read_json(Path(folder) / "meta.json")
    try:
        ok = data["format"] == STORE_FORMAT and data["key"] == Path(folder).name
        shards = set(data["videos"].values())
    except (TypeError, KeyError, AttributeError):
        return False
    return ok and all(layout_or_none(Path(folder) / name) for name in shards)


@dataclass(frozen=True, kw_only=True)
class StoreMeta:
    """What a store holds.

    Attributes:
        key: the store's key (hash of ``settings``).
        settings: everything hashed into the key (see ``settings.split_settings``).
        channels: ``C``.
        map_size: ``(h, w)`` of the spatial maps; ``(0, 0)`` for a pooled-only store.

    Properties from ``settings``: ``dataset``, ``split``, ``backbone``, ``size`` (input side in
    pixels), ``frames`` (``T`` per video or view), ``views`` (``V`` training views per video; 0 for
    a val/test store, which holds one deterministic clip per video).
    """

    key: str
    settings: dict
    channels: int
    map_size: tuple[int, int]

    dataset = property(lambda self: self.settings["dataset"])
    split = property(lambda self: self.settings["split"])
    backbone = property(lambda self: self.settings["backbone"])
    size = property(lambda self: self.settings["size"])
    frames = property(lambda self: self.settings["frames"])
    views = property(lambda self: self.settings["views"])

    @property
    def maps(self) -> bool:
        return self.map_size != (0, 0)


class FeatureStore:
    """Read-only access to a complete store; see the module docstring for the layout.

    Example::

        store = FeatureStore.open(cache, "ssv2-full", key)
        x = store.get(["7909", "12873"])              # [2, T, C, h, w] (val/test store)
        v = store.get(ids, pooled=True, view=0)       # [N, T, C] (first view of a train store)
    """

    def __init__(self, folder: Path) -> None:
        path = Path(folder) / "meta.json"
        if not path.is_file():
            raise FsarError(f"no complete feature store at {folder}; run 'fsar-bench extract'")
        data = read_json(path)
        try:
            if data.get("format") != STORE_FORMAT or data.get("key") != Path(folder).name:
                raise ValueError("another version or key")
            self.meta = StoreMeta(**{**data["meta"], "map_size": tuple(data["meta"]["map_size"])})
            self.shards: dict[str, str] = dict(data["videos"])
            self.failed: dict[str, str] = dict(data["failed"])
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            raise FsarError(
                f"{folder} is not a feature store of this version or key ({err}); run the "
                "command again (an incomplete store is redone) or delete it and extract again"
            ) from None
        self.folder = Path(folder)
        self._files: dict[str, object] = {}

    @classmethod
    def open(cls, cache: Path, dataset: str, key: str) -> FeatureStore:
        """The complete store ``key`` of ``dataset`` under the cache folder ``cache``."""
        return cls(store_dir(cache, dataset, key))

    @property
    def video_ids(self) -> list[str]:
        """Ids with features, in extraction order (failed videos excluded)."""
        return list(self.shards)

    def __len__(self) -> int:
        return len(self.shards)

    def __contains__(self, video_id: str) -> bool:
        return video_id in self.shards

    def _handle(self, video_id: str):
        if video_id not in self.shards:
            why = f"it failed: {self.failed[video_id]}" if video_id in self.failed else "not listed"
            raise KeyError(f"video {video_id!r} has no features in {self.folder} ({why})")
        name = self.shards[video_id]
        if name not in self._files:
            self._files[name] = safe_open(str(self.folder / name), framework="pt")
        return self._files[name]

    def _one(self, video_id: str, view: int | None, suffix: str = "") -> torch.Tensor:
        f = self._handle(video_id)
        if view is None:
            return f.get_tensor(video_id + suffix)
        if not self.meta.views:
            raise ValueError(f"{self.folder}: a val/test store has no views (got view={view})")
        if not 0 <= view < self.meta.views:
            raise IndexError(f"view {view} out of range: the store has {self.meta.views} views")
        return f.get_slice(video_id + suffix)[view]

    def get(
        self, video_ids: Sequence[str], pooled: bool = False, view: int | None = None
    ) -> torch.Tensor:
        """Features of ``video_ids`` as float32.

        Args:
            pooled: average the maps over space (global average pooling).
            view: for a train store, one view; ``None``: all views.

        Returns:
            maps ``[N, T, C, h, w]``, or pooled ``[N, T, C]``; a train store without ``view``
            adds the view axis: ``[N, V, T, C, h, w]`` / ``[N, V, T, C]``.
        """
        if not pooled and not self.meta.maps:
            raise ValueError(f"{self.folder} is pooled-only (extracted with --pooled-only)")
        if not video_ids:
            raise ValueError("no video ids given")
        out = None
        for i, video_id in enumerate(video_ids):  # one video at a time: stays in the caches
            x = self._one(video_id, view)
            if pooled and self.meta.maps:
                x = x.float().mean(dim=(-2, -1))
            if out is None:
                out = torch.empty(len(video_ids), *x.shape)
            out[i].copy_(x)  # float16 -> float32
        return check_finite(out, self)

    def indices(self, video_ids: Sequence[str], view: int | None = None) -> torch.Tensor:
        """Frame indices the features come from: int64 ``[N, T]`` (or ``[N, V, T]``)."""
        return torch.stack([self._one(v, view, IDX_SUFFIX) for v in video_ids]).long()
