"""Inputs of the two probe modes (see :mod:`fsar_bench.analysis.probe.trained`; the networks are in
:mod:`fsar_bench.analysis.probe.models`).

A *plan* says which clip of a video the probe reads: a small picklable tuple drawn once per
epoch from the trainer's ``numpy.random.Generator`` (never inside a ``Dataset``), so a resumed
training reads the same clips as an unbroken one.

* :class:`FeatureClips` (mode ``feature-tsm``) reads the feature stores of
  :mod:`fsar_bench.features.extract`. Val/test videos have one deterministic clip (test-time
  sampling, centre crop), used both to train and to score. Train-split videos have ``V`` cached
  training views (TRX sampling: linspace between jittered ends; random crop; random flip if the
  store was extracted with flips); training reads every allowed view each epoch
  (``every_view``, :meth:`FeatureClips.all_plans`) or one random one, scoring reads the
  first allowed view (so a train-split video is scored on a near-uniform, randomly cropped clip;
  its frame indices are recorded). With ``flip=False`` flipped views are not allowed; which views
  were flipped is recomputed from the store's settings with
  :func:`fsar_bench.features.extract.plan_views` and checked against the stored frame indices.
* :class:`FrameClips` (mode ``tsm-resnet50``) decodes frames: training reads one random frame
  per TSN segment (TSM's sampling) with a random crop (and flip if allowed), scoring reads the
  segment centres with a centre crop (TSM's test sampling).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fsar_bench.data.datasets import SPLITS
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.sampling import test_indices, train_indices
from fsar_bench.errors import FsarError
from fsar_bench.features.cache import FeatureStore
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.features.views import load_views, plan_views
from fsar_bench.progress import Progress
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource

# (split, video id, view or -1 for the test clip)
FeaturePlan = tuple[str, str, int]
# (video id, frame indices [T], crop [3]: top, left in [0, 1) or -1 for centre, flip)
FramePlan = tuple[str, np.ndarray, np.ndarray]


def allowed_views(store: FeatureStore, videos: list[Video], flip: bool) -> dict[str, list[int]]:
    """Views of each train-split video the probe may read: all, or the unflipped ones.

    Args:
        store: a train store (``meta.views > 0``).
        videos: its indexed videos with features.
        flip: whether flipped views are allowed.

    Returns:
        video id -> allowed view numbers (possibly empty).

    Raises:
        FsarError: the store's frame indices differ from the recomputed plan.
    """
    s = store.meta.settings
    n_views = store.meta.views
    if flip or not s["flip"]:
        return {v.video_id: list(range(n_views)) for v in videos}
    cfg = ExtractConfig(
        backbone=s["backbone"],
        frames=s["frames"],
        views=n_views,
        seed=s["seed"],
        flip=True,
        train_sampling=s["sampling"],
    )
    out = {}
    for video in videos:
        idx, crops = plan_views(video, cfg, train=True)  # [V, T], [V, 3]
        if not np.array_equal(idx, store.indices([video.video_id])[0].numpy()):
            raise FsarError(
                f"{store.folder}: frame indices of {video.video_id} differ from the extraction "
                "plan, so its flipped views cannot be identified; extract the features again"
            )
        out[video.video_id] = [k for k in range(n_views) if not crops[k, 2]]
    return out


class FeatureClips:
    """Probe inputs from feature stores (see the module docstring).

    Args:
        stores: split -> complete store; the train store has views.
        views: train-split video id -> allowed views (:func:`allowed_views`).
    """

    def __init__(self, stores: dict[str, FeatureStore], views: dict[str, list[int]]) -> None:
        self.stores, self.views = stores, views
        meta = next(iter(stores.values())).meta
        self.channels, self.spatial = meta.channels, meta.maps

    def plan(self, split: str, video_id: str, rng: np.random.Generator | None) -> FeaturePlan:
        """A random allowed view (``rng``) or the scoring clip (``rng=None``)."""
        if not self.stores[split].meta.views:
            return split, video_id, -1
        allowed = self.views[video_id]
        return split, video_id, int(allowed[rng.integers(len(allowed))] if rng else allowed[0])

    def all_plans(self, split: str, video_id: str) -> list[FeaturePlan]:
        """Every allowed view of a train-split video, or the one clip of a val/test video."""
        if not self.stores[split].meta.views:
            return [(split, video_id, -1)]
        return [(split, video_id, k) for k in self.views[video_id]]

    def load(self, plan: FeaturePlan) -> Tensor:
        """float32 ``[T, C, h, w]`` (or pooled ``[T, C]`` for a pooled-only store)."""
        split, vid, view = plan
        pooled = not self.spatial
        return self.stores[split].get([vid], pooled, None if view < 0 else view)[0]

    def indices(self, plan: FeaturePlan) -> np.ndarray:
        """int64 ``[T]`` video frame indices of the clip."""
        split, vid, view = plan
        return self.stores[split].indices([vid], None if view < 0 else view)[0].numpy()

    @staticmethod
    def describe(plan: FeaturePlan) -> str:
        return "test clip" if plan[2] < 0 else f"train view {plan[2]}"


class FrameClips:
    """Probe inputs decoded from frames (see the module docstring).

    Args:
        root: the data root.
        videos: video id -> indexed video.
        frames: ``T`` segments per video.
        size: crop side in pixels (frames are first resized to shorter side ``size * 256/224``).
        flip: random horizontal flips in training.
    """

    def __init__(self, root: Path, videos: dict[str, Video], frames: int, size: int, flip: bool):
        self.root, self.videos, self.frames, self.size, self.flip = root, videos, frames, size, flip

    def plan(self, split: str, video_id: str, rng: np.random.Generator | None) -> FramePlan:
        """TSN training sampling with a random crop (``rng``) or segment centres (``None``)."""
        n = self.videos[video_id].n_frames
        if rng is None:
            return video_id, np.array(test_indices(n, self.frames, "centre")), np.array([-1, -1, 0])
        idx = np.array(train_indices(n, self.frames, rng, "tsn"))
        crop = rng.random(3)
        crop[2] = float(crop[2] < 0.5 and self.flip)
        return video_id, idx, crop

    def load(self, plan: FramePlan) -> Tensor:
        """uint8 ``[T, 3, S, S]``."""
        vid, idx, crop = plan
        return load_views(self.root / self.videos[vid].path, idx[None], crop[None], self.size)

    @staticmethod
    def indices(plan: FramePlan) -> np.ndarray:
        return np.asarray(plan[1], dtype=np.int64)

    @staticmethod
    def describe(plan: FramePlan) -> str:
        return "segment centres"


@dataclass(kw_only=True)
class ProbeInputs:
    """What a probe mode reads.

    Attributes:
        clips: the clip source.
        fingerprint: identifies the inputs (feature store keys, or a digest of the frames).
        index: the dataset's index.
        usable: ``usable(split, video)``: whether the probe can read the video.
        backbone: the feature backbone (``None`` for frames).
    """

    clips: FeatureClips | FrameClips
    fingerprint: dict
    index: dict[str, SplitIndex]
    usable: Callable[[str, Video], bool]
    backbone: str | None = None


def frame_inputs(source: DataSource, frames: int, size: int, flip: bool) -> ProbeInputs:
    """Decoded frames of every indexed video with frames (mode ``tsm-resnet50``)."""
    index, root = source.index(), source.root
    videos = {v.video_id: v for s in SPLITS for v in index[s].videos}
    listed = sorted((v.video_id, v.path, v.n_frames) for v in videos.values())
    digest = hashlib.sha256(f"{root}|{listed}".encode()).hexdigest()
    clips = FrameClips(root, videos, frames, size, flip)
    return ProbeInputs(
        clips=clips,
        fingerprint={"frames": digest},
        index=index,
        usable=lambda split, v: v.n_frames > 0,
    )


def feature_inputs(
    source: DataSource,
    xcfg: ExtractConfig,
    flip: bool,
    *,
    device: torch.device,
    workers: int | None,
    progress: Progress | None,
) -> ProbeInputs:
    """Cached features of all splits, extracted if missing (mode ``feature-tsm``).

    A train-split video is usable if it has at least one allowed view (:func:`allowed_views`).
    """
    stores = source.features(
        xcfg, runtime=Runtime(device=device), workers=workers, progress=progress
    )
    index = source.index()
    train_videos = [v for v in index["train"].videos if v.video_id in stores["train"]]
    views = allowed_views(stores["train"], train_videos, flip)

    def usable(split: str, v: Video) -> bool:
        return v.video_id in stores[split] and (split != "train" or bool(views[v.video_id]))

    keys = {s: stores[s].meta.key for s in SPLITS}
    return ProbeInputs(
        clips=FeatureClips(stores, views),
        fingerprint=keys,
        index=index,
        usable=usable,
        backbone=stores["test"].meta.backbone,
    )
