"""Feature store: round trip against a direct computation, keys, stale and broken stores."""

from __future__ import annotations

import dataclasses
import json
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import extract_features, make_dataset
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.index import load_index
from fsar_bench.data.sampling import train_indices
from fsar_bench.errors import FsarError
from fsar_bench.features.backbones import load_backbone, resolve_weights
from fsar_bench.features.cache import FeatureStore
from fsar_bench.features.settings import ExtractConfig, settings_key, split_settings
from fsar_bench.features.shards import encode
from fsar_bench.features.views import load_views, plan_views

INFO = DATASETS.get("synthetic-mid")  # split lists live in the data root: any tiny dataset fits
CONFIG = ExtractConfig(frames=3, size=64, views=2, shard_videos=2)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("data"))
    cache = tmp_path_factory.mktemp("cache")
    stores = extract_features(INFO, root, cache, CONFIG, ("train", "test"), workers=0)
    return root, cache, stores


def _direct(root: Path, cache: Path, split: str, ids: list[str], train: bool):
    """The backbone run directly on ``ids`` as one batch (as the extraction batches a shard).

    Returns:
        float16 maps ``[N, V', T, C, h, w]`` and frame indices ``[N, V', T]``.
    """
    videos = {v.video_id: v for v in load_index(INFO, root, cache, splits=(split,))[split].videos}
    plans = [plan_views(videos[i], CONFIG, train) for i in ids]
    clips = [load_views(root / videos[i].path, *p, CONFIG.size) for i, p in zip(ids, plans)]
    model = load_backbone(CONFIG.backbone)
    maps = encode(model, torch.cat(clips), torch.device("cpu"))
    return maps.reshape(len(ids), -1, CONFIG.frames, *maps.shape[1:]), [p[0] for p in plans]


def test_round_trip_test_store(extracted):
    root, cache, stores = extracted
    store = stores["test"]
    assert store.video_ids == [f"test{i}" for i in range(4)] and not store.failed
    assert (store.meta.frames, store.meta.views, store.meta.map_size) == (3, 0, (2, 2))
    maps = store.get(["test3", "test2"])
    assert maps.shape == (2, 3, 1280, 2, 2) and maps.dtype == torch.float32
    want, idx = _direct(root, cache, "test", ["test2", "test3"], train=False)  # shard 1
    assert torch.equal(maps, want[[1, 0], 0].float())
    assert torch.equal(store.get(["test3"], pooled=True)[0], maps[0].mean(dim=(-2, -1)))
    assert store.indices(["test3"])[0].tolist() == idx[1][0].tolist() == [1, 4, 7]


def test_round_trip_train_views(extracted):
    root, cache, stores = extracted
    store = stores["train"]
    both = store.get(["train2", "train3"])
    assert both.shape == (2, 2, 3, 1280, 2, 2)
    assert torch.equal(store.get(["train3"], view=1)[0], both[1, 1])
    assert store.get(["train1"], pooled=True, view=0).shape == (1, 3, 1280)
    want, _ = _direct(root, cache, "train", ["train2", "train3"], train=True)
    assert torch.equal(both, want.float())
    rng = np.random.default_rng([CONFIG.seed, zlib.crc32(b"train2")])  # documented per-video stream
    views = [train_indices(8, 3, rng, "trx") for _ in range(2)]  # train2 has 6 + 2 frames
    assert store.indices(["train2"])[0].tolist() == views
    with pytest.raises(IndexError):
        store.get(["train1"], view=2)
    with pytest.raises(ValueError, match="no views"):
        stores["test"].get(["test1"], view=0)


def _key(root: Path, split: str, config: ExtractConfig) -> str:
    ix = load_index(INFO, root, root.parent / "cache")[split]
    weights = resolve_weights(config.backbone, random_init=config.random_init)
    return settings_key(
        split_settings(
            info=INFO, variant="", split=split, ix=ix, root=root, config=config, weights=weights
        )
    )


def test_key_changes_with_every_setting_that_changes_numbers(tmp_path):
    root = make_dataset(tmp_path / "data", per_split=2)
    changes = dict(
        frames=4,
        size=96,
        sampling="centre",
        train_sampling="tsn",
        views=3,
        seed=1,
        flip=True,
        maps=False,
        backbone="resnet50",
        random_init=True,
        shard_videos=3,
    )
    base = {s: _key(root, s, CONFIG) for s in ("train", "test")}
    keys = {}
    for field, value in changes.items():
        config = dataclasses.replace(CONFIG, **{field: value})
        if field == "backbone":
            config = dataclasses.replace(config, random_init=True)
        keys[field] = {s: _key(root, s, config) for s in ("train", "test")}
    train_only, test_only = {"train_sampling", "views", "seed", "flip"}, {"sampling"}
    assert all((keys[f]["train"] == base["train"]) == (f in test_only) for f in changes)
    assert all((keys[f]["test"] == base["test"]) == (f in train_only) for f in changes)
    assert len({keys[f]["train"] for f in changes}) == len(changes)
    (root / "splits" / "testlist.txt").write_text("c0/test0\n")  # a different list
    (root / "config.json").write_text("{}")  # the generator's description of the data
    assert _key(root, "test", CONFIG) != base["test"]
    assert _key(root, "train", CONFIG) != base["train"]


def test_changed_setting_makes_a_new_store_and_keeps_the_old(extracted):
    root, cache, stores = extracted
    before = {f.name: f.read_bytes() for f in stores["test"].folder.iterdir()}
    other = extract_features(
        INFO, root, cache, dataclasses.replace(CONFIG, sampling="centre"), ("test",), workers=0
    )
    assert other["test"].folder != stores["test"].folder
    assert other["test"].indices(["test0"]).tolist() == [[1, 3, 5]]  # centres of 3 segments
    assert {f.name: f.read_bytes() for f in stores["test"].folder.iterdir()} == before


def test_store_refuses_incomplete_or_foreign_folders(extracted, tmp_path):
    _, cache, stores = extracted
    with pytest.raises(FsarError, match="no complete feature store"):
        FeatureStore.open(cache, INFO.name, "0" * 24)
    moved = tmp_path / ("f" * 24)
    shutil.copytree(stores["test"].folder, moved)
    with pytest.raises(FsarError, match="not a feature store of this version or key"):
        FeatureStore(moved)


def test_broken_shards_and_foreign_partial_stores_are_redone(extracted, tmp_path):
    root, _, stores = extracted
    cache = tmp_path / "cache"
    folder = cache / stores["test"].folder.relative_to(stores["test"].folder.parents[2])
    shutil.copytree(stores["test"].folder, folder)
    want = {f.name: f.read_bytes() for f in folder.iterdir()}
    (folder / "meta.json").unlink()
    shard = folder / "shard-00001.safetensors"
    shard.write_bytes(shard.read_bytes()[:-100])  # half-written
    (folder / "shard-00000.safetensors.partial").write_bytes(b"junk")
    extract_features(INFO, root, cache, CONFIG, ("test",), workers=0)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == want
    settings = json.loads((folder / "settings.json").read_text())
    (folder / "meta.json").unlink()
    (folder / "settings.json").write_text(json.dumps({**settings, "frames": 5}))  # foreign
    extract_features(INFO, root, cache, CONFIG, ("test",), workers=0)
    assert {f.name: f.read_bytes() for f in folder.iterdir()} == want


def test_reading_one_video_needs_only_its_shard(extracted, tmp_path):
    folder = tmp_path / extracted[2]["test"].folder.name
    shutil.copytree(extracted[2]["test"].folder, folder)
    (folder / "shard-00001.safetensors").unlink()  # holds test2, test3
    store = FeatureStore(folder)
    assert store.get(["test0", "test1"]).shape == (2, 3, 1280, 2, 2)
    with pytest.raises(FileNotFoundError):
        store.get(["test2"])
