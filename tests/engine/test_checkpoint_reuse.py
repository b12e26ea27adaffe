"""Another test protocol (episodes, queries) reuses the trained checkpoint: training depends only
on the training config, the features, the selection and the training-relevant setting."""

from __future__ import annotations

import pytest
import torch

from fsar_bench.cli import main
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.results.state import TEST_ONLY, training_key
from fsar_bench.results.summary import load_summaries


def test_training_key_ignores_test_only_fields_and_nothing_else():
    config = {
        "method": "otam",
        "manifest": "a",
        "train_config": {"lr": 1e-3},
        "setting": {
            "way": 5,
            "shot": 1,
            "seed": 0,
            "episodes": 10,
            "query": 1,
            "protocol": "quick",
            "repeats": 1,
            "frames": 8,
        },
    }
    key = training_key(config)
    for field, value in (("episodes", 10000), ("query", 5), ("protocol", "otam")):
        assert training_key({**config, "setting": {**config["setting"], field: value}}) == key
    assert training_key({**config, "manifest": "b"}) == key
    for field in ("shot", "seed", "frames"):  # what training reads changes the key
        changed = {**config["setting"], field: config["setting"][field] + 1}
        assert training_key({**config, "setting": changed}) != key
    assert training_key({**config, "train_config": {"lr": 1e-4}}) != key
    assert set(TEST_ONLY) <= set(config["setting"])


@pytest.mark.slow
def test_another_test_protocol_reuses_the_checkpoint(tmp_path, monkeypatch):
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
    runs = tmp_path / "runs"
    base = [
        "run",
        "--methods",
        "protonet",
        "--shots",
        "1",
        "--way",
        "2",
        "--size",
        "64",
        "--frames",
        "4",
        "--data-root",
        str(data),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(runs),
        "--set",
        "train.episodes=4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=2",
    ]
    from fsar_bench.features.bank import FeatureBank

    banks = []
    build = FeatureBank.__init__

    def counted(self, store, pooled, max_bytes=None):
        banks.append(store.meta.split)
        build(self, store, pooled, max_bytes)

    monkeypatch.setattr(FeatureBank, "__init__", counted)
    assert main([*base, "--episodes", "6"]) == 0
    assert sorted(banks) == ["train", "val"]
    assert main([*base, "--episodes", "9"]) == 0
    assert sorted(banks) == ["train", "val"]  # evaluating the finished training reads no bank
    a, b = sorted(load_summaries(runs), key=lambda s: s.setting.episodes)
    assert (a.setting.episodes, b.setting.episodes) == (6, 9) and a.dir != b.dir
    assert a.checkpoint == b.checkpoint  # one training, reused
    assert a.train_history == b.train_history


@pytest.mark.slow
def test_the_training_seed_owns_the_initialisation_and_keeps_the_test_episodes(tmp_path):
    """``--set train.seed=S`` retrains on the same test episodes, exactly as ``--seed S``
    trains (initialisation, episodes, dropout): the training does not read the test seed."""
    from safetensors.torch import load_file

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
    runs = tmp_path / "runs"
    base = [
        "run",
        "--methods",
        "trn",
        "--shots",
        "1",
        "--way",
        "2",
        "--size",
        "64",
        "--frames",
        "4",
        "--episodes",
        "6",
        "--data-root",
        str(data),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(runs),
        "--select",
        "last",
        "--set",
        "trn.num_frames=4",
        "--set",
        "train.episodes=2",
        "--set",
        "train.batch=1",
    ]
    for extra in ([], ["--set", "train.seed=1"], ["--seed", "1"]):
        assert main([*base, *extra]) == 0
    runs_by = {(s.setting.seed, s.train_config["seed"]): s for s in load_summaries(runs)}
    assert set(runs_by) == {(0, 0), (0, 1), (1, 1)}
    weights = {k: load_file(s.checkpoint) for k, s in runs_by.items()}
    same = [torch.equal(weights[(1, 1)][n], w) for n, w in weights[(0, 1)].items()]
    assert all(same)  # train.seed=1 trains as --seed 1 does
    assert not all(torch.equal(weights[(0, 0)][n], w) for n, w in weights[(0, 1)].items())
    assert runs_by[(0, 0)].manifest == runs_by[(0, 1)].manifest != runs_by[(1, 1)].manifest
    assert len({s.checkpoint for s in runs_by.values()}) == 3
