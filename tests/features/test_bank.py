"""FeatureBank: batched reads equal the store's per-video reads, bit for bit, in every mode."""

from __future__ import annotations

import os

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


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="Linux /proc")
def test_maps_are_memory_mapped_not_copied_and_hold_no_file(tmp_path):
    store = fake_store(tmp_path / "k", n=60, views=2)  # 20 shards
    storage, tensors = shard_tensors(store.folder / shard_name(0))
    assert set(tensors) == {"v0", "v1", "v2"}  # int32 frame indices are not mapped
    assert all(a.untyped_storage().data_ptr() == storage.data_ptr() for a in tensors.values())
    before = _open_files()
    banks = [FeatureBank(store, pooled) for pooled in (False, True)]
    assert _open_files() == before  # none kept open: a store of thousands of shards fits
    assert banks[0].ram is None and banks[0].pooled_bytes == 60 * 2 * T * C * 4


def test_resident_pages_are_released_and_read_again(tmp_path, monkeypatch):
    import fsar_bench.features.bank as bank_module

    store = fake_store(tmp_path / "k", n=9, views=2)
    bank = FeatureBank(store, pooled=False)
    released = []
    monkeypatch.setattr(bank_module, "MAPPED_BYTES", 2 * T * C * 6 * 2)  # two videos' views
    monkeypatch.setattr(bank_module, "release", lambda s: released.append(s.data_ptr()))
    want = torch.cat([store.get([v], view=1) for v in ("v0", "v4", "v8")])
    assert torch.equal(bank.load(["v0", "v4", "v8"], [1, 1, 1]), want)
    assert len(released) == 3 and bank.read == 0  # every shard once, the count restarted
    monkeypatch.undo()
    for storage in bank.storages.values():
        bank_module.release(storage)  # the real madvise: the pages are read again
    assert torch.equal(bank.load(["v0", "v4", "v8"], [1, 1, 1]), want)


def test_bad_requests(tmp_path):
    bank = FeatureBank(fake_store(tmp_path / "k", n=3, views=2), pooled=True)
    with pytest.raises(KeyError, match="nope"):
        bank.load(["nope"], [0])
    with pytest.raises(IndexError):
        bank.load(["v0"], [2])
    with pytest.raises(ValueError, match="one view per video"):
        bank.load(["v0"])
