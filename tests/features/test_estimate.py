"""The feature cache's size before extraction: the estimate, the disk check, --dry-run,
--map-size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import extract_features, make_dataset
from fsar_bench.cli import main
from fsar_bench.data.datasets import DATASETS
from fsar_bench.errors import FsarError
from fsar_bench.features import estimate as est
from fsar_bench.features.settings import ExtractConfig, settings_key, split_settings
from fsar_bench.source import DataSource

INFO = DATASETS.get("synthetic-mid")  # split lists in the data root: any tiny dataset fits
CONFIG = ExtractConfig(frames=3, size=64, views=2, shard_videos=2)


def _bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir())


@pytest.mark.slow
def test_the_estimate_is_the_size_of_the_stores_written(tmp_path):
    root = make_dataset(tmp_path / "data")
    source = DataSource(dataset=INFO, root=root, cache=tmp_path / "c")
    before = source.estimate(CONFIG)
    assert before.needed == before.total() and not any(s.done for s in before.splits)
    stores = extract_features(INFO, root, tmp_path / "c", CONFIG, workers=0)
    for split in before.splits:
        written = _bytes(stores[split.split].folder)
        assert before.split_bytes(split) == pytest.approx(written, rel=0.03), split
    assert [s.views for s in before.splits] == [2, 1, 1]  # train views, one clip for val/test
    after = source.estimate(CONFIG)
    assert after.needed == 0 and all(s.done for s in after.splits)


def test_the_formula(tmp_path):
    config = ExtractConfig(backbone="resnet50")
    counts = {"train": 67013, "val": 1926, "test": 2857}
    e = est.estimate_cache(dataset="ssv2-full", counts=counts, config=config, folder=tmp_path)
    per_clip = 8 * 2048 * 7 * 7 * 2 + 8 * 4 + est.OVERHEAD
    assert e.split_bytes(e.splits[1]) == 1926 * per_clip
    assert e.split_bytes(e.splits[0]) == 67013 * (4 * (per_clip - est.OVERHEAD) + est.OVERHEAD)
    assert e.total(0) < e.total(3) < e.total()  # pooled only < 3 x 3 maps < 7 x 7 maps


def test_extraction_stops_before_writing_when_the_disk_is_too_small(tmp_path, monkeypatch):
    root = make_dataset(tmp_path / "data")
    monkeypatch.setattr(est, "disk_free", lambda folder: 10_000)
    with pytest.raises(FsarError) as err:
        extract_features(INFO, root, tmp_path / "c", CONFIG, workers=0)
    message = str(err.value)
    assert "\n" not in message and "feature cache needs" in message and "10.0 kB free" in message
    assert f"keeps {est.gb(est.MARGIN)} free besides" in message  # why a small need is refused
    for choice in ("--pooled-only (", "--map-size 1 (", "--cache-dir"):
        assert choice in message
    assert not (tmp_path / "c" / "features").exists()  # nothing was started


def test_dry_run_prints_the_estimate_and_extracts_nothing(tmp_path, capsys):
    root = make_dataset(tmp_path / "data")
    args = ["extract", "--dataset", "synthetic-mid", "--data-root", str(root)]
    args += ["--cache-dir", str(tmp_path / "c"), "--size", "64", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "estimate: " in out and "train " in out and "(4 videos x 4 views)" in out
    assert "free: " in out and ": fits" in out
    assert not (tmp_path / "c" / "features").exists()


def test_dry_run_without_videos_counts_the_split_lists(tmp_path, capsys):
    args = ["extract", "--dataset", "ssv2-full", "--data-root", str(tmp_path / "none")]
    args += ["--cache-dir", str(tmp_path / "c"), "--backbone", "resnet50", "--dry-run"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "train 430.42 GB (67013 videos x 4 views)" in out and "from the split lists" in out
    assert "2048 x 7 x 7 float16 maps" in out and "pooled only 8.97 GB" in out


@pytest.mark.slow
def test_map_size_pools_the_stored_maps(tmp_path):
    root = make_dataset(tmp_path / "data")
    native = extract_features(INFO, root, tmp_path / "c", CONFIG, ("test",), workers=0)["test"]
    config = ExtractConfig(frames=3, size=64, views=2, shard_videos=2, map_size=1)
    pooled = extract_features(INFO, root, tmp_path / "c", config, ("test",), workers=0)["test"]
    assert native.meta.map_size == (2, 2) and pooled.meta.map_size == (1, 1)
    assert pooled.folder != native.folder and pooled.meta.settings["map_size"] == 1
    ids = native.video_ids
    want = native.get(ids).mean(dim=(-2, -1), keepdim=True)
    assert torch.allclose(pooled.get(ids), want, rtol=2e-3, atol=2e-3)
    same = ExtractConfig(frames=3, size=64, views=2, shard_videos=2, map_size=5)  # >= native
    ix = DataSource(dataset=INFO, root=root, cache=tmp_path / "c").index()["test"]
    keys = [
        settings_key(
            split_settings(
                info=INFO, variant="", split="test", ix=ix, root=root, config=c, weights=_weights(c)
            )
        )
        for c in (CONFIG, same)
    ]
    assert keys[0] == keys[1] == native.folder.name  # no pooling: the key did not change


def _weights(config: ExtractConfig):
    from fsar_bench.features.backbones import resolve_weights

    return resolve_weights(config.backbone, config.weights, config.random_init)
