"""Computing one feature store: clips decoded in DataLoader workers, the backbone on batches,
shards written atomically, ``meta.json`` last (see :mod:`fsar_bench.features.extract` for the
layout and resume rules, :mod:`fsar_bench.features.cache` for the format).

Test hook: the environment variable ``FSAR_EXTRACT_SHARD_DELAY`` (seconds) sleeps after each shard
is written, so tests can interrupt a run between shards.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from fsar_bench.data.index import Video
from fsar_bench.data.video import VideoError
from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import autocast_dtype
from fsar_bench.features.cache import (
    IDX_SUFFIX,
    STORE_FORMAT,
    StoreMeta,
    read_shard,
    shard_name,
    write_shard,
)
from fsar_bench.features.settings import ExtractConfig, map_side
from fsar_bench.features.views import load_views, plan_views
from fsar_bench.files import read_json, sweep_temps, write_json, write_text
from fsar_bench.progress import Progress
from fsar_bench.runtime import Runtime


class _Clips(torch.utils.data.Dataset):
    """Item ``i``: ``(i, frames uint8 [V'*T, 3, S, S] or None, indices [V', T], error)``."""

    def __init__(self, job: StoreJob) -> None:
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


@dataclass(kw_only=True)
class StoreJob:
    """Extraction of one split into ``folder`` (see the module docstring)."""

    folder: Path
    settings: dict
    videos: list[Video]
    root: Path
    config: ExtractConfig
    device: torch.device

    def run(
        self, model: torch.nn.Module, workers: int, progress: Progress | None, runtime: Runtime
    ) -> None:
        """Compute the missing shards (under ``torchrun``, every ``world``-th one on each rank),
        then write ``meta.json`` on rank 0; every rank returns once the store is complete."""
        if runtime.is_main:
            self._claim()
        runtime.barrier()
        n = self.config.shard_videos
        shards = [self.videos[i : i + n] for i in range(0, len(self.videos), n)]
        todo = [k for k, vids in enumerate(shards) if not self._valid(k, vids, runtime.is_main)]
        todo = runtime.mine(todo)
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
                write_shard(
                    folder=self.folder,
                    k=k,
                    tensors=tensors,
                    videos=ids,
                    failed=failed,
                    compute=self._compute(),
                )
                tensors, failed = {}, {}
                time.sleep(float(os.environ.get("FSAR_EXTRACT_SHARD_DELAY", 0)))
            if progress:
                progress(self.settings["split"], done, len(self.videos))
        runtime.barrier()
        if runtime.is_main:
            self._finalize(len(shards))
        runtime.barrier()

    def _claim(self) -> None:
        """Start or resume in ``folder``; a folder made with other settings is wiped."""
        path = self.folder / "settings.json"
        if path.is_file() and read_json(path) != self.settings:
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        for partial in self.folder.glob("*.partial"):  # an earlier version's temporaries
            partial.unlink()
        sweep_temps(self.folder)
        if not path.is_file():
            write_json(path, self.settings)

    def _valid(self, k: int, videos: list[Video], delete: bool = True) -> bool:
        """Whether shard ``k`` is complete; a broken or foreign one is deleted if ``delete``."""
        path = self.folder / shard_name(k)
        meta = read_shard(path)
        if meta is not None and meta["videos"] == [v.video_id for v in videos]:
            return True
        if delete:
            path.unlink(missing_ok=True)
        return False

    def _encode(self, model: torch.nn.Module, batch: list, tensors: dict, failed: dict) -> None:
        """Run the backbone on a batch's clips; add their features to ``tensors``."""
        ok = [(i, clip, idx) for i, clip, idx, err in batch if not err]
        failed.update({self.videos[i].video_id: err for i, _, _, err in batch if err})
        if not ok:
            return
        frames = torch.cat([clip for _, clip, _ in ok])
        y = encode(model, frames, self.device, self.config.maps, map_side(self.config))
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
        channels, side = BACKBONES.get(self.settings["backbone"]).channels, map_side(self.config)
        return (channels, side, side) if self.config.maps else (channels,)

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
        meta = StoreMeta(
            key=self.folder.name,
            settings=self.settings,
            channels=shape[0],
            map_size=(shape[1:] or (0, 0)),
        )
        write_text(self.folder / "failed.txt", "".join(f"{v}\t{r}\n" for v, r in failed.items()))
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
    model: torch.nn.Module,
    frames: torch.Tensor,
    device: torch.device,
    maps: bool = True,
    side: int | None = None,
) -> torch.Tensor:
    """Backbone forward of uint8 ``[K, 3, S, S]`` -> float16 on CPU ``[K, C, h, w]`` (or pooled
    ``[K, C]`` when ``maps`` is false), with bf16/fp16 autocast on GPU. ``side``: maps smaller
    than the backbone's are average-pooled to ``side x side`` (adaptive pooling)."""
    amp = autocast_dtype(device)
    x = frames.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), torch.autocast(device.type, amp, enabled=amp is not None):
        y = model(x).float()
    if maps and side and side < y.shape[-1]:
        y = torch.nn.functional.adaptive_avg_pool2d(y, side)
    y = y if maps else y.mean(dim=(2, 3))
    return y.half().cpu().contiguous()
