"""A toy few-shot problem in memory (no files): a train split, a manifest, a trainer."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.splits import SplitList
from fsar_bench.engine.train import TrainConfig, TrainData, Trainer
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest
from fsar_bench.methods import create_method

T, D = 4, 8


def split(prefix: str, n_classes: int = 5, per_class: int = 4) -> SplitIndex:
    """``n_classes`` classes of ``per_class`` videos, ids ``<prefix><class>_<i>``."""
    videos = [
        Video(video_id=f"{prefix}{c}_{i}", class_key=f"{prefix}{c}", path="x", n_frames=T)
        for c in range(n_classes)
        for i in range(per_class)
    ]
    classes = tuple(f"{prefix}{c}" for c in range(n_classes))
    pairs = tuple((v.video_id, v.class_key) for v in videos)
    lst = SplitList(path=None, sha256="0" * 64, classes=classes, videos=pairs)
    return SplitIndex(split=lst, videos=videos, missing=[])


def manifest(index: SplitIndex | None = None, episodes: int = 4, seed: int = 0) -> Manifest:
    index = index or split("te")
    spec = EpisodeSpec(dataset="toy", episodes=episodes, seed=seed, frames=T)
    return Manifest(spec=spec, data=json.loads(build_manifest(index, spec)), sha256="h")


def load(ids, views=None) -> torch.Tensor:
    """Features ``[V, T, D]``: the class index (from the id) plus a little noise per video."""
    out = torch.stack([torch.full((T, D), float(v[2])) for v in ids])
    g = torch.Generator().manual_seed(len(ids))
    return out + 0.1 * torch.randn(out.shape, generator=g)


def method(name: str = "protonet"):
    torch.manual_seed(0)
    return create_method(name, D)


def trainer(folder: Path, **cfg) -> Trainer:
    """A ProtoNet trainer on the toy splits, checkpoints in ``folder / "ck"``."""
    data = TrainData(
        index=split("tr"),
        views=0,
        load=load,
        val_manifest=manifest(split("va"), 4, 1),
        val_load=load,
    )
    values = {"episodes": 12, "lr": 1e-2, "val_every": 4, "val_episodes": 4} | cfg
    return Trainer(method(), TrainConfig(**values), data, out_dir=Path(folder) / "ck")
