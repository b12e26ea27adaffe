"""Toy features, manifests and a trainer shared by ``tests/engine/test_distributed.py`` and the
programs it runs under ``torchrun`` (``tests/programs/*.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

T, D, H, VIEWS = 4, 8, 2, 2


def toy_eval_data(spatial: bool):
    """A 45-episode 2-shot manifest of 7 toy classes and its features (class centre + noise)."""
    import torch

    from conftest import toy_index
    from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest, parse_manifest

    index = toy_index(n_classes=7, per_class=8, frames=T, grow=False)
    spec = EpisodeSpec(dataset="toy", shot=2, query=2, episodes=45, frames=T)
    manifest = parse_manifest(build_manifest(index, spec))
    g = torch.Generator().manual_seed(0)
    shape = (T, D, H, H) if spatial else (T, D)
    centres, feats = {}, {}
    for vid, info in sorted(manifest.videos.items()):
        if info["class"] not in centres:
            centres[info["class"]] = torch.randn(shape, generator=g)
        feats[vid] = centres[info["class"]] + torch.randn(shape, generator=g)
    return manifest, lambda ids: torch.stack([feats[v] for v in ids])


def toy_train_data():
    """8 toy training classes x 6 videos, ``VIEWS`` cached views each: ``TrainData`` for 5-way
    1-shot episodes with no validation."""
    import torch

    from conftest import toy_index
    from fsar_bench.engine.train import TrainData

    index = toy_index(n_classes=8, per_class=6, frames=T, grow=False)
    g = torch.Generator().manual_seed(1)
    feats = {v.video_id: torch.randn(VIEWS, T, D, generator=g) for v in index.videos}

    def load(ids, views):
        return torch.stack([feats[v][w] for v, w in zip(ids, views)])

    return TrainData(index=index, views=VIEWS, load=load, val_manifest=None, val_load=None)


def toy_trainer(out: Path, runtime=None):
    """TRN++ (dropout and its own frame-subset generator) on :func:`toy_train_data`, validated on
    a 6-episode manifest of the same classes (training view 0), 12 episodes, 1 per rank and step."""
    import json

    import torch

    from fsar_bench.engine.train import TrainConfig, Trainer
    from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest
    from fsar_bench.methods import create_method

    data = toy_train_data()
    spec = EpisodeSpec(dataset="toy", split="val", episodes=6, seed=1, frames=T)
    val = Manifest(spec=spec, data=json.loads(build_manifest(data.index, spec)), sha256="v")
    data = dataclasses.replace(
        data, val_manifest=val, val_load=lambda ids: data.load(ids, [0] * len(ids))
    )
    torch.manual_seed(0)
    method = create_method("trn", D, num_frames=T)
    cfg = TrainConfig(episodes=12, batch=1, lr=1e-2, val_every=4, val_episodes=6)
    return Trainer(method, cfg, data, out_dir=out, runtime=runtime)
