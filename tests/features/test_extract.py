"""Extraction: resume after an interruption, unreadable videos, the command, real SSv2 frames."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from conftest import SSV2_SAMPLE, extract_features, make_dataset, need, write_frames
from fsar_bench.commands.extract import extract
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.index import load_index
from fsar_bench.errors import FsarError
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.features.views import load_views, plan_views

INFO = DATASETS.get("synthetic-mid")  # split lists live in the data root: any tiny dataset fits
CONFIG = ExtractConfig(frames=3, size=64, views=2, shard_videos=2)


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_interrupted_run_resumes_to_the_same_bytes(tmp_path):
    root = make_dataset(tmp_path / "data")
    ref = extract_features(INFO, root, tmp_path / "ref", CONFIG, ("test",), workers=0)["test"]

    def interrupt(split: str, done: int, total: int) -> None:
        raise KeyboardInterrupt  # Ctrl-C right after the first shard is written

    with pytest.raises(KeyboardInterrupt):
        extract_features(
            INFO, root, tmp_path / "c", CONFIG, ("test",), workers=0, progress=interrupt
        )
    folder = tmp_path / "c" / ref.folder.relative_to(tmp_path / "ref")
    assert sorted(_files(folder)) == ["settings.json", "shard-00000.safetensors"]
    seen: list[int] = []
    store = extract_features(
        INFO,
        root,
        tmp_path / "c",
        CONFIG,
        ("test",),
        workers=0,
        progress=lambda split, done, total: seen.append(done),
    )["test"]
    assert seen == [4]  # one batch: the second shard only
    assert _files(store.folder) == _files(ref.folder)


@pytest.mark.slow
def test_killed_extraction_resumes_to_the_same_bytes(tmp_path):
    root = make_dataset(tmp_path / "data", per_split=6)
    ref = extract_features(INFO, root, tmp_path / "ref", CONFIG, ("test",), workers=0)["test"]
    folder = tmp_path / "c" / ref.folder.relative_to(tmp_path / "ref")
    code = (
        "from pathlib import Path\n"
        "from fsar_bench.source import DataSource\n"
        "from fsar_bench.features.settings import ExtractConfig\n"
        f"DataSource.resolve({INFO.name!r}, data_root=Path({str(root)!r}), "
        f"cache_dir=Path({str(tmp_path / 'c')!r})).features("
        f"ExtractConfig(**{dataclasses.asdict(CONFIG)!r}), ('test',))\n"
    )
    env = {**os.environ, "FSAR_EXTRACT_SHARD_DELAY": "60"}  # test hook: sleep after each shard
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.monotonic() + 300
        while not (folder / "shard-00000.safetensors").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    assert sorted(_files(folder)) == ["settings.json", "shard-00000.safetensors"]
    store = extract_features(INFO, root, tmp_path / "c", CONFIG, ("test",), workers=0)["test"]
    assert _files(store.folder) == _files(ref.folder)


def _corrupt_dataset(root: Path) -> Path:
    """Two good test videos plus three that cannot be read."""
    make_dataset(root, per_split=2)
    frames = root / "frames"
    write_frames(frames / "garbage", 6)
    for f in (frames / "garbage").iterdir():
        f.write_bytes(b"not a jpeg")
    write_frames(frames / "mixed", 6, size=32)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(frames / "mixed" / "00005.jpg")
    (frames / "broken.mp4").write_bytes(b"\0" * 1000)
    with open(root / "splits" / "testlist.txt", "a") as f:
        f.write("c0/garbage\nc1/mixed\nc0/broken\n")
    return root


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("extract")(extract)
    app.command("other")(lambda: None)  # two commands: the command name is an argument
    return app


def test_command_lists_unreadable_videos_and_keeps_the_rest(tmp_path):
    root = _corrupt_dataset(tmp_path / "data")
    args = ["extract", "--dataset", "synthetic", "--data-root", str(root), "--cache-dir"]
    args += [str(tmp_path / "c"), "--frames", "3", "--size", "64", "--splits", "test"]
    result = CliRunner().invoke(_app(), [*args, "--workers", "1"])
    assert result.exit_code == 0, result.output
    for vid in ("garbage", "mixed", "broken"):
        assert f"test {vid}: " in result.output
    store = extract_features(
        INFO, root, tmp_path / "c", ExtractConfig(frames=3, size=64), ("test",)
    )
    assert store["test"].video_ids == ["test0", "test1"]
    failed = store["test"].failed
    assert set(failed) == {"garbage", "mixed", "broken"}
    assert "cannot read" in failed["garbage"] and "different sizes" in failed["mixed"]
    assert "no frames" in failed["broken"]
    listed = (store["test"].folder / "failed.txt").read_text().splitlines()
    assert sorted(line.split("\t")[0] for line in listed) == sorted(failed)
    with pytest.raises(KeyError, match="it failed"):
        store["test"].get(["garbage"])


def test_command_pooled_only_and_bad_options(tmp_path):
    root = make_dataset(tmp_path / "data", per_split=2)
    args = ["extract", "--dataset", "synthetic", "--data-root", str(root), "--cache-dir"]
    args += [str(tmp_path / "c"), "--frames", "3", "--size", "64", "--workers", "0"]
    result = CliRunner().invoke(_app(), [*args, "--splits", "test", "--pooled-only"])
    assert result.exit_code == 0, result.output
    config = ExtractConfig(frames=3, size=64, maps=False)
    store = extract_features(INFO, root, tmp_path / "c", config, ("test",))["test"]
    assert store.get(["test1"], pooled=True).shape == (1, 3, 1280)
    with pytest.raises(ValueError, match="pooled-only"):
        store.get(["test1"])
    for bad in (["--splits", "tset"], ["--sampling", "random"], ["--backbone", "resnet"]):
        result = CliRunner().invoke(_app(), [*args, *bad])
        assert isinstance(result.exception, FsarError), bad


def test_real_ssv2_frames_are_read_and_cropped(tmp_path):
    root = need(SSV2_SAMPLE)
    index = load_index(DATASETS.get("ssv2-full"), root, tmp_path, missing="skip", splits=("test",))
    video = index["test"].videos[0]
    idx, crops = plan_views(video, ExtractConfig(), train=False)
    assert idx.tolist() == [list(range(8))]  # 8-frame videos: every frame
    clip = load_views(root / video.path, idx, crops, 112)
    assert clip.shape == (8, 3, 112, 112) and clip.float().std() > 10


@pytest.mark.slow
def test_real_ssv2_sample_extracts_offline(tmp_path):
    root = need(SSV2_SAMPLE)
    info = DATASETS.get("ssv2-full")
    stores = extract_features(info, root, tmp_path, ExtractConfig(), missing="skip")
    assert (len(stores["train"]), len(stores["val"]), len(stores["test"])) == (100, 0, 50)
    assert not any(s.failed for s in stores.values())
    assert stores["test"].get(stores["test"].video_ids[:2]).shape == (2, 8, 1280, 4, 4)
    assert stores["train"].get(stores["train"].video_ids[:1], view=3).shape == (1, 8, 1280, 4, 4)


def test_extract_generates_a_missing_synthetic_dataset_first(tmp_path, monkeypatch):
    """``extract --dataset synthetic-X`` on a fresh cache makes the data, as ``run`` does."""
    from fsar_bench.cli import main
    from fsar_bench.source import DataSource

    made = []

    def tiny_prepare(self, progress=None):  # stands in for the generator: a tiny data root
        made.append(self.name)
        make_dataset(self.root)
        (self.root / "COMPLETE").write_text("test\n")
        return []

    monkeypatch.setattr(DataSource, "prepare", tiny_prepare)
    args = ["extract", "--dataset", "synthetic-high", "--cache-dir", str(tmp_path / "c")]
    args += ["--splits", "test", "--size", "64", "--frames", "3", "--workers", "0"]
    assert main(args) == 0
    assert made == ["synthetic-high"]
