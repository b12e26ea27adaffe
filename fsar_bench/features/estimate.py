"""The feature cache's size, known before extraction, and the disk space check.

Per split, a store holds per video ``V' x T x C x h x w`` float16 values (maps; ``V'`` = the
training views for train, 1 for val/test; ``h = w`` the backbone's map side at the input size,
or ``--map-size`` when the maps are pooled smaller), ``[V', T]`` int32 frame indices, and about
:data:`OVERHEAD` bytes of safetensors header and index per video. Pooled-only stores hold
``V' x T x C`` float16 values instead. ``docs/scale.md`` compares the estimate with written
stores.

:func:`estimate_cache` computes it from the split sizes (the videos found by the index, or the
split lists' counts before any video is there) and the extraction settings;
:meth:`CacheEstimate.check_space` stops with a one-line :class:`~fsar_bench.errors.FsarError`
when the cache's file system lacks the space for what is still to be extracted, naming the
choices: pooled features only (the methods that need no maps), smaller maps by pooling
(``--map-size``), or another ``--cache-dir``.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.features.settings import ExtractConfig, map_side

OVERHEAD = 256  # bytes per video: two header entries, the shard's id list, meta.json
VALUE_BYTES = 2  # float16
MARGIN = 1 << 30  # free space kept besides the estimate (a shard being written, the index)


def gb(n: float) -> str:
    """Bytes in decimal units: ``"1.23 GB"``, ``"456.0 MB"``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.2f} {unit}" if unit != "MB" else f"{n / size:.1f} MB"
    return f"{n / 1e3:.1f} kB"


@dataclass(frozen=True, kw_only=True)
class SplitSize:
    """One split's store: ``videos`` with ``views`` clips each; ``done``: a complete store of
    these settings exists already."""

    split: str
    videos: int
    views: int
    done: bool = False


@dataclass(frozen=True, kw_only=True)
class CacheEstimate:
    """The estimated feature cache of one dataset and extraction config (see the module
    docstring); ``map_side`` 0: pooled only; ``source``: where the split sizes come from."""

    dataset: str
    backbone: str
    size: int
    frames: int
    channels: int
    map_side: int
    splits: tuple[SplitSize, ...]
    folder: Path
    source: str
    written: int = 0

    def split_bytes(self, split: SplitSize, side: int | None = None) -> int:
        """Bytes of one split's store with ``side x side`` maps (0: pooled; ``None``: as set)."""
        side = self.map_side if side is None else side
        clip = split.views * self.frames
        values = clip * self.channels * max(side, 1) ** 2
        return split.videos * (values * VALUE_BYTES + clip * 4 + OVERHEAD)

    def total(self, side: int | None = None) -> int:
        """Bytes of every split's store (``side``: as :meth:`split_bytes`)."""
        return sum(self.split_bytes(s, side) for s in self.splits)

    @property
    def needed(self) -> int:
        """Bytes still to be written: splits without a complete store, less the shards an
        interrupted extraction has ``written`` already."""
        return max(0, sum(self.split_bytes(s) for s in self.splits if not s.done) - self.written)

    def text(self) -> str:
        """One line: the total, per split, the shape, and the pooled-only alternative."""
        side = self.map_side
        kind = f"{self.channels} x {side} x {side} float16 maps" if side else "pooled float16"
        parts = ", ".join(
            f"{s.split} {gb(self.split_bytes(s))} ({s.videos} videos"
            f"{f' x {s.views} views' if s.views > 1 else ''}{', done' if s.done else ''})"
            for s in self.splits
        )
        line = (
            f"{gb(self.total())}: {parts} of {self.frames} frames x {kind} ({self.backbone} at "
            f"{self.size} px; split sizes from {self.source})"
        )
        return line + (f"; pooled only {gb(self.total(0))}" if side else "")

    def choices(self) -> list[str]:
        """What takes less space: pooled features only, smaller maps, another cache folder."""
        out = []
        if self.map_side:
            out.append(
                f"--pooled-only ({gb(self.total(0))}; only methods without maps: "
                "ProtoNet, OTAM, TRN++, ITA)"
            )
        if self.map_side > 1:
            side = self.map_side // 2
            out.append(
                f"--map-size {side} (maps pooled to {side} x {side}: {gb(self.total(side))})"
            )
        return out + ["--cache-dir on a file system with more space"]

    def check_space(self, free: int | None = None) -> None:
        """Raise a one-line :class:`FsarError` when the cache's file system has less than
        :attr:`needed` plus :data:`MARGIN` free; ``free``: bytes (default: measured)."""
        free = disk_free(self.folder) if free is None else free
        if self.needed + MARGIN <= free:
            return
        raise FsarError(
            f"the {self.dataset} feature cache needs {gb(self.needed)} more and keeps "
            f"{gb(MARGIN)} free besides, but {self.folder} has {gb(free)} free "
            f"({self.text()}); choose {', or '.join(self.choices())}"
        )


def disk_free(folder: Path) -> int:
    """Free bytes on the file system that holds (or will hold) ``folder``."""
    path = Path(folder).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def estimate_cache(
    *,
    dataset: str,
    counts: Mapping[str, int],
    config: ExtractConfig,
    folder: Path,
    done: Mapping[str, bool] | None = None,
    source: str = "the index",
    written: int = 0,
) -> CacheEstimate:
    """The cache of ``counts`` (split -> videos) extracted with ``config`` into ``folder``;
    ``done``: splits whose store is already complete; ``written``: bytes of shards already
    written towards the others."""
    backbone = BACKBONES.get(config.backbone)
    views = {s: config.views if s == "train" else 1 for s in counts}
    splits = [
        SplitSize(split=s, videos=n, views=views[s], done=bool(done and done.get(s)))
        for s, n in counts.items()
    ]
    return CacheEstimate(
        dataset=dataset,
        backbone=backbone.name,
        size=config.size or backbone.default_size,
        frames=config.frames,
        channels=backbone.channels,
        map_side=map_side(config),
        splits=tuple(splits),
        folder=Path(folder),
        source=source,
        written=written,
    )
