"""The fine-tuned track (``fsar-bench run --finetune``): backbone and method trained together on
decoded frames, with the frozen track's trainer, evaluation, manifests and results store.

* Model: :class:`~fsar_bench.engine.endtoend.EndToEnd` (the backbone of ``--backbone`` with its
  weights, made trainable, in front of the method built for its channels). It is the module the
  :class:`~fsar_bench.engine.train.Trainer` trains and :func:`~fsar_bench.engine.evaluate.evaluate`
  evaluates, exactly as a frozen method.
* Training clips (the TRX/TA2N loader): every use of a training video decodes a fresh clip,
  :func:`~fsar_bench.features.views.train_plan` (random start and end, then linspace; one random
  crop and flip for the whole clip). The trainer draws, with its episodes, one integer in
  ``[0, PLANS)`` per video (``TrainData.views = PLANS``) and the clip's plan is drawn from
  ``numpy.random.default_rng([seed, crc32(video_id), that integer])``: plans are a function of
  the trainer's generator, which every checkpoint holds, so a resumed training decodes the
  same clips as an unbroken one (under ``torchrun`` each rank's own generator does the same).
* Flips (:func:`flips`): TA2N's loader flips training clips except on SSv2, whose classes name
  directions; the synthetic datasets' classes do too (left/right primitives), so they are not
  flipped either. Other datasets (UCF101, HMDB51, Kinetics, user folders) are.
* Val/test clips: the test-time sampler and centre crop (:func:`~fsar_bench.data.sampling.
  test_indices`), the same frames the frozen track's cache holds, read through the same test
  manifests, so frozen and fine-tuned results pair episode by episode. Held-out training
  classes (``--select holdout:K``) are read with the test-time sampler too (the frozen track
  reads their first cached training view).
* Decoding runs in ``workers`` DataLoader processes (persistent) over
  :class:`~fsar_bench.features.views.ClipReader`; the trainer hands the loader the next batch
  (:attr:`~fsar_bench.engine.train.TrainData.prefetch`) before computing the current one, so
  the workers decode it meanwhile. ``workers=0`` decodes in the calling process.

Differences from the official code: ImageNet normalisation of the input (see
:mod:`fsar_bench.engine.endtoend`); the whole clip shares one crop and flip in both. The
recipes (``--preset quick|paper``) and where they differ from the papers are in
:mod:`fsar_bench.engine.presets`.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader

from fsar_bench.data.datasets import DatasetInfo
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.sampling import test_indices
from fsar_bench.engine.endtoend import EndToEnd
from fsar_bench.engine.train import TrainData
from fsar_bench.episodes.manifest import Manifest
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import load_backbone, resolve_weights
from fsar_bench.features.views import ClipReader, train_plan
from fsar_bench.methods import MethodInfo, create_method
from fsar_bench.results.summary import Setting
from fsar_bench.source import DataSource

PLANS = 2**31  # per-use clip plans of a training video (the trainer draws one per use)
CENTRE = np.array([[-1.0, -1.0, 0.0]])  # centre crop, no flip

# (path relative to the data root, frame indices int [1, T], crop float [1, 3])
Plan = tuple[str, np.ndarray, np.ndarray]


def flips(dataset: DatasetInfo) -> bool:
    """Whether training clips of ``dataset`` are flipped (module docstring)."""
    return not (dataset.name.startswith("ssv2") or dataset.is_synthetic)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClipSettings:
    """How clips are decoded and which backbone reads them (recorded in the run's config).

    Attributes:
        backbone: registry name. weights: weight file (``None``: the default).
        weights_sha256: hash of the weights. frames, size: ``T`` and the crop side.
        sampling, train_sampling: test-time and training samplers. flip: training flips.
        seed: seeds the clip plans with the trainer's draws.
    """

    backbone: str
    weights: str | None
    weights_sha256: str
    frames: int
    size: int
    sampling: str = "trx"
    train_sampling: str = "trx"
    flip: bool
    seed: int

    def record(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "weights"}


class _Plans(torch.utils.data.Sampler):
    """The DataLoader's sampler: the plans of the batch being decoded (replaced per batch)."""

    def __init__(self) -> None:
        self.items: list[Plan] = []

    def __iter__(self) -> Iterator[Plan]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


class ClipRequest(Protocol):
    """What :meth:`Clips.of` reads of a run request."""

    backbone: str
    weights: str | None
    frames: int
    size: int | None
    seed: int
    workers: int | None


class ClipLoader:
    """``load(ids, views=None)`` -> uint8 clips ``[V, T, 3, S, S]``; ``views[i]`` is a training
    plan number (module docstring), ``None`` the test-time clip; ``prefetch`` starts decoding.

    Args:
        root: the data root. videos: every video the run may read, by id.
        settings: the clip settings. workers: decoding processes (0: this process).
        in_flight: clips sent to each worker ahead of the one being read.
    """

    def __init__(
        self,
        root: Path,
        videos: dict[str, Video],
        settings: ClipSettings,
        *,
        workers: int,
        in_flight: int = 32,
    ) -> None:
        self.videos, self.cfg = videos, settings
        self.plans = _Plans()
        extra = {"persistent_workers": True, "prefetch_factor": in_flight} if workers else {}
        # its own generator: starting a batch must not draw from torch's global one (dropout)
        self.loader = DataLoader(
            ClipReader(root, settings.size),
            sampler=self.plans,
            batch_size=None,
            num_workers=workers,
            generator=torch.Generator(),
            **extra,
        )
        self.pending: tuple[tuple, Iterator[torch.Tensor]] | None = None

    def plan(self, video_id: str, view: int | None) -> Plan:
        """The clip of one use of a video: a training plan number, or ``None`` (test-time)."""
        video, cfg = self.videos[video_id], self.cfg
        if view is None:
            idx = np.array([test_indices(video.n_frames, cfg.frames, cfg.sampling)])
            return video.path, idx, CENTRE
        rng = np.random.default_rng([cfg.seed, zlib.crc32(video_id.encode()), view])
        return (video.path, *train_plan(video, cfg.frames, rng, cfg.flip, cfg.train_sampling))

    def _start(self, ids: list[str], views: list[int] | None) -> Iterator[torch.Tensor]:
        self.plans.items = [
            self.plan(v, None if views is None else w) for v, w in zip(ids, views or ids)
        ]
        return iter(self.loader)  # persistent workers: reset, the first plans are sent at once

    def prefetch(self, ids: list[str], views: list[int] | None = None) -> None:
        """Start decoding a batch that :meth:`load` will probably be asked for next."""
        self.pending = ((tuple(ids), views and tuple(views)), self._start(ids, views))

    def load(self, ids: list[str], views: list[int] | None = None) -> torch.Tensor:
        """uint8 ``[V, T, 3, S, S]`` of the planned clips (the prefetched batch if it matches)."""
        key = (tuple(ids), views and tuple(views))
        pending, self.pending = self.pending, None
        clips = pending[1] if pending and pending[0] == key else self._start(ids, views)
        return torch.stack(list(clips))


def default_workers() -> int:
    """Decoding processes by default: all cores but one."""
    return max(1, (os.cpu_count() or 2) - 1)


def clip_settings(
    dataset: DatasetInfo,
    backbone: str,
    weights: str | None,
    frames: int,
    size: int | None,
    seed: int,
) -> ClipSettings:
    """The clip settings of a run (``size=None``: the backbone's default)."""
    info = BACKBONES.get(backbone)
    sha = resolve_weights(info.name, weights).sha256
    return ClipSettings(
        backbone=info.name,
        weights=weights,
        weights_sha256=sha,
        frames=frames,
        size=size or info.default_size,
        flip=flips(dataset),
        seed=seed,
    )


class Clips:
    """The fine-tuned track's inputs and model of one run.

    Args:
        root: the data root. indexes: the run's split indexes (every video they list is read).
        settings: :func:`clip_settings`. workers: decoding processes (``None``: cores - 1).
        device: where the model trains.
    """

    def __init__(
        self,
        root: Path,
        indexes: dict[str, SplitIndex],
        settings: ClipSettings,
        *,
        workers: int | None,
        device: torch.device,
    ) -> None:
        videos = {v.video_id: v for ix in indexes.values() for v in ix.videos}
        self.settings, self.device = settings, device
        workers = default_workers() if workers is None else workers
        self.loader = ClipLoader(root, videos, settings, workers=workers)

    def config(self) -> dict:
        """What a fine-tuned run's config records instead of feature-store keys."""
        s = self.settings
        return {
            "features": {},
            "backbone": s.backbone,
            "size": s.size,
            "finetune": True,
            "clips": s.record(),
        }

    def model(self, info: MethodInfo, method_config: dict) -> EndToEnd:
        """The backbone (trainable) in front of the method."""
        s = self.settings
        weights = resolve_weights(s.backbone, s.weights)
        backbone = load_backbone(s.backbone, weights, self.device).requires_grad_(True)
        method = create_method(info.name, backbone.channels, **method_config)
        return EndToEnd(backbone, method)

    @classmethod
    def of(
        cls,
        source: DataSource,
        indexes: dict[str, SplitIndex],
        req: ClipRequest,
        device: torch.device,
    ) -> Clips:
        """The clips of a run (``req``: its :class:`~fsar_bench.engine.run.RunRequest`)."""
        settings = clip_settings(
            dataset=source.dataset,
            backbone=req.backbone,
            weights=req.weights,
            frames=req.frames,
            size=req.size,
            seed=req.seed,
        )
        return cls(source.root, indexes, settings, workers=req.workers, device=device)

    def train_data(self, index: SplitIndex, val: Manifest | None, setting: Setting) -> TrainData:
        """The trainer's inputs: clips of ``index`` (fresh plans) and the validation clips."""
        load = self.loader.load
        return TrainData(
            index=index,
            views=PLANS,
            load=load,
            val_manifest=val,
            val_load=load if val else None,
            way=setting.way,
            shot=setting.shot,
            prefetch=self.loader.prefetch,
        )

    def test_loader(self) -> Callable[[list[str]], torch.Tensor]:
        """``load(ids)``: test-time clips (evaluation)."""
        return self.loader.load
