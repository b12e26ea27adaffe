"""Extracting frame features into the store (:mod:`fsar_bench.features.cache`), resumably.

What is stored per split (``T`` = frames, ``S`` = size, ``V`` = views):

* val/test: one deterministic clip per video, the test-time sampling of
  :func:`fsar_bench.data.sampling.test_indices` (default ``"trx"``); frames resized to shorter side
  ``round(S * 256 / 224)`` (the TRX loader's 224 -> 256, 84 -> 96) and centre-cropped to ``S x S``.
  Per video ``[T, C, h, w]``.
* train: ``V`` views per video (default 4), all drawn from the video's own generator
  ``numpy.random.default_rng([seed, crc32(video_id)])``: per view, frame indices from
  :func:`~fsar_bench.data.sampling.train_indices` (default ``"trx"``), then a random ``S x S`` crop
  of the resized frames and, with ``flip``, a horizontal flip with probability 1/2 (the TRX/TA2N
  training loader's augmentation; off by default here, because a mirror image turns SSv2's
  "pushing something from left to right" and the synthetic "right" primitive into other
  classes, i.e. label noise). Per video ``[V, T, C, h, w]``; a method trained on cached
  features picks one view per video and episode.

Difference from the authors' code: the TRX/TA2N loaders draw new frames, a new crop and a new
flip every time a training video is used, and fine-tune the backbone; here the backbone is frozen
and each training video has ``V`` fixed views, computed once.

Map size ``h = w = ceil(S / 32)``: ``--size 112`` gives 4x4 maps (the EfficientNet-Lite0 default:
TA2N's spatial alignment then costs 16 positions per frame, affordable on a 2-core CPU); 224 gives
the papers' 7x7 (ResNet-50). ``maps=False`` stores pooled ``[T, C]`` vectors only (not for TA2N).

Each split has its own store, keyed by a hash of :func:`fsar_bench.features.cache.split_settings`:
extractor version, dataset, list variant, split and its list's SHA-256, the videos found (id,
path, frame count, file size), the data root's ``config.json`` if any (written by the synthetic
generator), backbone and weight-file SHA-256, frames, size, sampling, views, seed, flip, maps,
dtype and shard size (val/test keys ignore seed and flip). Not keyed: device and
precision (bf16 autocast on GPU vs fp32 on CPU differ at rounding level; a GPU-made cache serves
CPU runs; recorded per shard), batch size and workers. Not detected: frame files rewritten in
place with the same count (delete ``<cache>/features/<dataset>`` after changing data that way).

Resume: videos (in split-list order) are cut into shards of ``shard_videos``; each batch lies in
one shard, so a rerun recomputes exactly the missing shards with the same batches.

Test hook: the environment variable ``FSAR_EXTRACT_SHARD_DELAY`` (seconds) sleeps after each shard
is written, so tests can interrupt a run between shards.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from fsar_bench.data.datasets import SPLITS, DatasetInfo
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.sampling import test_indices, train_indices
from fsar_bench.data.video import VideoError, read_frames
from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import (
    autocast_dtype,
    crop,
    load_backbone,
    pick_device,
    resize_short,
    resolve_weights,
)
from fsar_bench.features.cache import (
    IDX_SUFFIX,
    STORE_FORMAT,
    FeatureStore,
    StoreMeta,
    read_shard,
    shard_name,
    write_json,
    write_shard,
)
from fsar_bench.features.settings import ExtractConfig, settings_key, split_settings, store_dir

Progress = Callable[[str, int, int], None]


def plan_views(video: Video, config: ExtractConfig, train: bool) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices int ``[V', T]`` and crops float ``[V', 3]`` (top, left in [0, 1), flip).

    ``V' = 1`` with a centre crop (``-1``) and no flip for val/test.
    """
    t = config.frames
    if not train:
        return np.array([test_indices(video.n_frames, t, config.sampling)]), np.array([[-1, -1, 0]])
    rng = np.random.default_rng([config.seed, zlib.crc32(video.video_id.encode())])
    idx = np.array(
        [train_indices(video.n_frames, t, rng, config.train_sampling) for _ in range(config.views)]
    )
    crops = rng.random((config.views, 3))
    crops[:, 2] = (crops[:, 2] < 0.5) & config.flip
    return idx, crops


def load_views(path: Path, idx: np.ndarray, crops: np.ndarray, size: int) -> torch.Tensor:
    """Decode, resize and crop: uint8 ``[V' * T, 3, size, size]`` in view-major order."""
    uniq, inverse = np.unique(idx.ravel(), return_inverse=True)
    x = torch.from_numpy(read_frames(path, uniq.tolist())).permute(0, 3, 1, 2)  # [U, 3, H, W]
    x = resize_short(x, size)
    rows = inverse.reshape(idx.shape)
    return torch.cat([crop(x[r], size, *c) for r, c in zip(rows, crops)]).contiguous()


class _Clips(torch.utils.data.Dataset):
    """Item ``i``: ``(i, frames uint8 [V'*T, 3, S, S] or None, indices [V', T], error)``."""

    def __init__(self, job: _Job) -> None:
        self.root, self.videos, self.config = job.root, job.videos, job.config
        self.size, self.train = job.settings["size"], job.settings["views"] > 0

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int):
        video = self.videos[i]
        if video.n_frames < 1:
            return i, None, None, "no frames (unreadable when the dataset was indexed)"
        idx, crops = plan_views(video, self.config, self.train)
        try:
            return i, load_views(self.root / video.path, idx, crops, self.size), idx, ""
        except (VideoError, OSError, ValueError) as err:
            return i, None, idx, str(err).splitlines()[0] or type(err).__name__


def _as_list(batch: list) -> list:
    return batch


def ensure_features(
    info: DatasetInfo,
    root: Path,
    cache: Path,
    index: dict[str, SplitIndex],
    config: ExtractConfig,
    splits: Sequence[str] = SPLITS,
    *,
    variant: str = "",
    device: torch.device | str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> dict[str, FeatureStore]:
    """Extract what is missing (resuming interrupted runs) and return one store per split.

    Use :meth:`fsar_bench.data.source.DataSource.features`, which passes its own values.

    Args:
        info, root, cache: the dataset, its data folder and the cache folder.
        index: the data root's index (the missing-video policy already applied).
        config: extraction settings.
        splits: which splits.
        device: ``"cpu"``, ``"cuda"``...; default CUDA when present.
        workers: decoding processes (default: cores - 1, at least 1; 0 decodes in-process).
        progress: ``progress(split, videos done, videos total)``.

    Returns:
        split -> complete :class:`FeatureStore`; videos that could not be read are in its
        ``failed`` (id -> reason) and in ``failed.txt`` next to its shards.
    """
    weights = resolve_weights(config.backbone, config.weights, config.random_init)
    stores: dict[str, FeatureStore] = {}
    model = None
    for split in splits:
        settings = split_settings(info, variant, split, index[split], Path(root), config, weights)
        folder = store_dir(Path(cache), info.name, settings_key(settings))
        if not (folder / "meta.json").is_file():
            dev = pick_device(device)
            if model is None:
                model = load_backbone(config.backbone, weights, dev)
            job = _Job(folder, settings, index[split].videos, Path(root), config, dev)
            job.run(model, _default_workers() if workers is None else workers, progress)
        stores[split] = FeatureStore(folder)
    return stores


def _default_workers() -> int:
    return min(8, max(1, len(os.sched_getaffinity(0)) - 1))


@dataclass
class _Job:
    """Extraction of one split into ``folder`` (see the module docstring)."""

    folder: Path
    settings: dict
    videos: list[Video]
    root: Path
    config: ExtractConfig
    device: torch.device

    def run(self, model: torch.nn.Module, workers: int, progress: Progress | None) -> None:
        self._claim()
        n = self.config.shard_videos
        shards = [self.videos[i : i + n] for i in range(0, len(self.videos), n)]
        todo = [k for k, vids in enumerate(shards) if not self._valid(k, vids)]
        views = max(self.settings["views"], 1)
        per_batch = max(1, self.config.batch_frames // (self.config.frames * views))
        batches = [
            list(range(k * n + i, k * n + min(i + per_batch, len(shards[k]))))
            for k in todo
            for i in range(0, len(shards[k]), per_batch)
        ]
        loader = torch.utils.data.DataLoader(
            _Clips(self),
            batch_sampler=batches,
            collate_fn=_as_list,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
        )
        done = len(self.videos) - sum(len(shards[k]) for k in todo)
        tensors: dict[str, torch.Tensor] = {}
        failed: dict[str, str] = {}
        for batch in loader:
            self._encode(model, batch, tensors, failed)
            done += len(batch)
            k, last = divmod(batch[-1][0], n)
            if last == len(shards[k]) - 1:
                ids = [v.video_id for v in shards[k]]
                write_shard(self.folder, k, tensors, ids, failed, self._compute())
                tensors, failed = {}, {}
                time.sleep(float(os.environ.get("FSAR_EXTRACT_SHARD_DELAY", 0)))
            if progress:
                progress(self.settings["split"], done, len(self.videos))
        self._finalize(len(shards))

    def _claim(self) -> None:
        """Start or resume in ``folder``; a folder made with other settings is wiped."""
        path = self.folder / "settings.json"
        if path.is_file() and json.loads(path.read_text()) != self.settings:
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for partial in self.folder.glob("*.partial"):
            partial.unlink()
        if not path.is_file():
            write_json(path, self.settings)

    def _valid(self, k: int, videos: list[Video]) -> bool:
        """Whether shard ``k`` is complete; a broken or foreign one is deleted."""
        path = self.folder / shard_name(k)
        meta = read_shard(path)
        if meta is not None and meta["videos"] == [v.video_id for v in videos]:
            return True
        path.unlink(missing_ok=True)
        return False

    def _encode(self, model: torch.nn.Module, batch: list, tensors: dict, failed: dict) -> None:
        """Run the backbone on a batch's clips; add their features to ``tensors``."""
        ok = [(i, clip, idx) for i, clip, idx, err in batch if not err]
        failed.update({self.videos[i].video_id: err for i, _, _, err in batch if err})
        if not ok:
            return
        y = encode(model, torch.cat([clip for _, clip, _ in ok]), self.device, self.config.maps)
        if y.shape[1:] != self._shape():
            raise RuntimeError(f"backbone output {tuple(y.shape[1:])}, expected {self._shape()}")
        views, start = self.settings["views"], 0
        for i, clip, idx in ok:
            part = y[start : start + len(clip)].reshape(
                max(views, 1), self.config.frames, *y.shape[1:]
            )
            start += len(clip)
            vid = self.videos[i].video_id
            tensors[vid] = (part if views else part[0]).clone()  # [V, T, C, h, w] / [T, C, h, w]
            tensors[vid + IDX_SUFFIX] = torch.from_numpy(idx if views else idx[0]).int()

    def _shape(self) -> tuple[int, ...]:
        backbone = BACKBONES.get(self.settings["backbone"])
        side = math.ceil(self.settings["size"] / backbone.stride)
        return (backbone.channels, side, side) if self.config.maps else (backbone.channels,)

    def _compute(self) -> str:
        amp = autocast_dtype(self.device)
        return f"{self.device.type} {str(amp or torch.float32)[6:]} torch {torch.__version__}"

    def _finalize(self, n_shards: int) -> None:
        """Check every shard, then write ``failed.txt`` and, last, ``meta.json``."""
        videos, failed, compute = {}, {}, set()
        for k in range(n_shards):
            meta = read_shard(self.folder / shard_name(k))
            if meta is None:
                raise FsarError(f"{self.folder}: shard {k} is missing or broken; run again")
            failed.update(meta["failed"])
            videos.update({v: shard_name(k) for v in meta["videos"] if v not in meta["failed"]})
            compute.add(meta["compute"])
        shape = self._shape()
        meta = StoreMeta(self.folder.name, self.settings, shape[0], (shape[1:] or (0, 0)))
        (self.folder / "failed.txt").write_text("".join(f"{v}\t{r}\n" for v, r in failed.items()))
        write_json(
            self.folder / "meta.json",
            {
                "format": STORE_FORMAT,
                "key": self.folder.name,
                "meta": asdict(meta),
                "videos": videos,
                "failed": failed,
                "compute": sorted(compute),
            },
        )


def encode(
    model: torch.nn.Module, frames: torch.Tensor, device: torch.device, maps: bool = True
) -> torch.Tensor:
    """Backbone forward of uint8 ``[K, 3, S, S]`` -> float16 on CPU ``[K, C, h, w]`` (or pooled
    ``[K, C]`` when ``maps`` is false), with bf16/fp16 autocast on GPU."""
    amp = autocast_dtype(device)
    x = frames.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, amp, enabled=amp is not None):
        y = model(x).float()
    y = y if maps else y.mean(dim=(2, 3))
    return y.half().cpu().contiguous()
