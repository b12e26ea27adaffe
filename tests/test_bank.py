"""FeatureBank: batched reads equal the store's per-video reads, bit for bit, in every mode."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fsar_bench.errors import FsarError
from fsar_bench.features.bank import FeatureBank, shard_tensors
from fsar_bench.features.cache import (
    STORE_FORMAT,
    FeatureStore,
    shard_name,
    write_shard,
)
from fsar_bench.files import write_json

T, C, HW = 3, 5, (2, 3)


def fake_store(folder, n: int, views: int, maps: bool = True, per_shard: int = 3) -> FeatureStore:
    """A complete store of ``n`` random float16 videos (``views`` 0: a val/test store)."""
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(views)
    ids = [f"v{i}" for i in range(n)]
    shape = ((views,) if views else ()) + (T, C) + (HW if maps else ())
    shards = {}
    for k in range(0, n, per_shard):
        chunk = ids[k : k + per_shard]
        tensors = {}
        for v in chunk:
            tensors[v] = (10 * torch.randn(*shape, generator=g)).half()
            tensors[v + "#idx"] = torch.zeros(shape[: 1 + bool(views)], dtype=torch.int32)
            shards[v] = shard_name(k // per_shard)
        write_shard(
            folder=folder,
            k=k // per_shard,
            tensors=tensors,
            videos=chunk,
            failed={},
            compute="test",
        )
    settings = {
        "dataset": "toy",
        "split": "train" if views else "val",
        "backbone": "b",
        "size": 8,
        "frames": T,
        "views": views,
    }
    meta = {
        "key": folder.name,
        "settings": settings,
        "channels": C,
        "map_size": list(HW) if maps else [0, 0],
    }
    write_json(
        folder / "meta.json",
        {"format": STORE_FORMAT, "key": folder.name, "meta": meta, "videos": shards, "failed": {}},
    )
    return FeatureStore(folder)


@pytest.mark.parametrize("pooled", [True, False])
@pytest.mark.parametrize("in_ram", [True, False])
def test_train_views_equal_per_video_store_reads(tmp_path, pooled, in_ram):
    store = fake_store(tmp_path / "k", n=8, views=4)
    bank = FeatureBank(store, pooled, max_bytes=None if in_ram else 0)
    assert (bank.ram is not None) == (pooled and in_ram)
    rng = np.random.default_rng(0)
    ids = [f"v{i}" for i in rng.integers(0, 8, 20)]  # repeats included
    views = rng.integers(0, 4, 20).tolist()
    want = torch.cat([store.get([v], pooled=pooled, view=w) for v, w in zip(ids, views)])
    got = bank.load(ids, views)
    assert got.dtype == torch.float32 and torch.equal(got, want)


@pytest.mark.parametrize("pooled", [True, False])
def test_val_store_without_views(tmp_path, pooled):
    store = fake_store(tmp_path / "k", n=7, views=0)
    bank = FeatureBank(store, pooled)
    ids = ["v6", "v0", "v3", "v0"]
    assert torch.equal(bank.load(ids), store.get(ids, pooled=pooled))
    with pytest.raises(ValueError, match="no views"):
        bank.load(ids, [0, 0, 0, 0])


def test_pooled_only_store(tmp_path):
    store = fake_store(tmp_path / "k", n=4, views=2, maps=False)
    with pytest.raises(FsarError, match="pooled-only"):
        FeatureBank(store, pooled=False)
    bank = FeatureBank(store, pooled=True)
    want = torch.cat([store.get(["v1"], True, 1), store.get(["v3"], True, 0)])
    assert torch.equal(bank.load(["v1", "v3"], [1, 0]), want)


def test_maps_are_memory_mapped_not_copied(tmp_path):
    store = fake_store(tmp_path / "k", n=6, views=2)
    tensors = shard_tensors(store.folder / shard_name(0))
    assert set(tensors) == {"v0", "v1", "v2"}  # int32 frame indices are not mapped
    assert all(isinstance(a.base, np.memmap) for a in tensors.values())
    bank = FeatureBank(store, pooled=False)
    assert bank.ram is None and bank.pooled_bytes == 6 * 2 * T * C * 4


def test_bad_requests(tmp_path):
    bank = FeatureBank(fake_store(tmp_path / "k", n=3, views=2), pooled=True)
    with pytest.raises(KeyError, match="nope"):
        bank.load(["nope"], [0])
    with pytest.raises(IndexError):
        bank.load(["v0"], [2])
    with pytest.raises(ValueError, match="one view per video"):
        bank.load(["v0"])
