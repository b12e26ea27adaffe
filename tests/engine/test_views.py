"""``fsar-bench run --views K``: the training split is extracted with K views per video, the
validation and test stores stay shared, and the run is another run (another train store key)."""

from __future__ import annotations

import pytest

from conftest import tiny_synthetic
from fsar_bench.cli import main
from fsar_bench.features.cache import FeatureStore
from fsar_bench.results.summary import load_summaries


@pytest.mark.slow
def test_views_reach_the_training_store_and_make_another_run(tmp_path):
    data = tiny_synthetic(tmp_path / "data")
    cache, runs = tmp_path / "cache", tmp_path / "runs"
    args = ["run", "--methods", "protonet", "--shots", "1", "--way", "2", "--episodes", "4"]
    args += ["--size", "32", "--frames", "4"]
    args += ["--data-root", str(data), "--cache-dir", str(cache), "--runs-dir", str(runs)]
    for field in ("episodes=4", "val_every=4", "val_episodes=2"):
        args += ["--set", f"train.{field}"]
    assert main(args + ["--views", "1"]) == 0 and main(args) == 0

    def train_views(summary) -> int:
        return FeatureStore.open(cache, "synthetic-mid", summary.features["train"]).meta.views

    by_views = {train_views(s): s for s in load_summaries(runs)}
    assert sorted(by_views) == [1, 4]  # one run per view count
    one, four = by_views[1], by_views[4]
    assert one.features["test"] == four.features["test"]  # test and val stores are shared
    assert one.features["val"] == four.features["val"]
    assert one.features["train"] != four.features["train"] and one.dir != four.dir
    assert one.manifest == four.manifest  # the same test episodes
