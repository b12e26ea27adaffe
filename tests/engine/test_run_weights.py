"""``fsar-bench run --weights``: a tiny random-init timm model saved to a file drives a spatial
method; another weight file is another feature store and another run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fsar_bench.cli import main
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.features.backbones import resolve_weights
from fsar_bench.features.cache import FeatureStore
from fsar_bench.results.summary import load_summaries

timm = pytest.importorskip("timm")

MODEL = "test_resnet.r160_in1k"  # timm's tiny test CNN


def weight_file(folder: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    path = folder / f"resnet-{seed}.pth"
    torch.save(timm.create_model(MODEL, num_classes=0).state_dict(), path)
    return path


@pytest.mark.slow
def test_run_with_a_weight_file_and_a_spatial_method(tmp_path):
    data = generate(
        tmp_path / "data",
        preset(
            "mid",
            train_classes=2,
            val_classes=2,
            test_classes=2,
            videos_per_class=3,
            frames=8,
            size=64,
        ),
    )
    cache, runs = tmp_path / "cache", tmp_path / "runs"

    def run(weights: Path) -> int:
        return main(
            [
                "run",
                "--methods",
                "rvn",
                "--shots",
                "1",
                "--way",
                "2",
                "--episodes",
                "4",
                "--backbone",
                "timm:test_resnet",
                "--weights",
                str(weights),
                "--size",
                "64",
                "--frames",
                "4",
                "--data-root",
                str(data),
                "--cache-dir",
                str(cache),
                "--runs-dir",
                str(runs),
                "--set",
                "train.episodes=2",
                "--set",
                "train.val_every=2",
                "--set",
                "train.val_episodes=2",
            ]
        )

    first, second = weight_file(tmp_path, 1), weight_file(tmp_path, 2)
    assert run(first) == 0 and run(second) == 0
    a, b = sorted(load_summaries(runs), key=lambda s: s.weights != str(first))
    assert (a.weights, b.weights) == (str(first), str(second))
    assert a.backbone == b.backbone == f"timm:{MODEL}" and a.method == "rvn"
    assert all(a.features[s] != b.features[s] for s in a.features)  # another cache key
    assert a.manifest == b.manifest and a.dir != b.dir  # same episodes, another run
    for summary, weights in ((a, first), (b, second)):
        store = FeatureStore.open(cache, "synthetic-mid", summary.features["test"])
        assert (
            store.meta.settings["weights_sha256"]
            == resolve_weights(f"timm:{MODEL}", weights).sha256
        )
        assert store.meta.maps and tuple(store.meta.map_size) == (2, 2)  # spatial maps reach rvn
