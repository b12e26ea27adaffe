"""The real SSv2 sample (``../shared/fixtures/ssv2_sample``) through the headline command.

The sample has 10 OTAM train classes, 5 OTAM test classes and no OTAM validation class (its
``val`` folders hold train classes), so the validation split cannot select weights:
``--select holdout:2`` holds two train classes out instead. Skips when ``../shared`` is absent.
"""

from __future__ import annotations

import pytest

from conftest import SSV2_SAMPLE, need
from fsar_bench.cli import main
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.splits import read_split
from fsar_bench.results.summary import load_summaries

HEADLINE = ["run", "--methods", "ta2n,otam", "--dataset", "ssv2", "--missing", "skip"]


@pytest.mark.slow  # indexing the sample against the full SSv2 lists: ~10 s
def test_without_a_validation_split_the_error_names_the_options(tmp_path, capsys):
    args = [*HEADLINE, "--data-root", str(need(SSV2_SAMPLE)), "--cache-dir", str(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: the ssv2-full val split has 0 classes with videos, but 5-way validation episodes "
        "need 5; select the weights another way: --select holdout:K (K training classes held "
        "out as validation) or --select last (keep the final weights)"
    )
    assert not (tmp_path / "features").exists()  # it failed before extracting anything


@pytest.mark.slow
def test_the_headline_command_runs_with_two_held_out_classes(tmp_path, capsys):
    budget = [
        "--shots",  # the papers' two columns (the default is 1-shot)
        "1,5",
        "--size",
        "64",
        "--episodes",
        "20",
        "--set",
        "train.episodes=4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=4",
        "--set",
        "ta2n.reduce_channels=64",
        "--baseline",
        "otam",
    ]
    args = [
        *HEADLINE,
        "--select",
        "holdout:2",
        "--data-root",
        str(need(SSV2_SAMPLE)),
        "--cache-dir",
        str(tmp_path / "c"),
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    assert main([*args, *budget]) == 0
    out = capsys.readouterr().out
    assert "selection: holdout:2 (best on held-out train classes" in out
    assert "ta2n - otam  1-shot" in out and "ta2n - otam  5-shot" in out
    summaries = load_summaries(tmp_path / "runs")
    assert len(summaries) == 4 and {s.setting.dataset for s in summaries} == {"ssv2-full"}
    info = DATASETS.get("ssv2")
    train = read_split(info.split_path("train")).classes
    test = read_split(info.split_path("test")).classes
    held = summaries[0].select["classes"]
    assert all(s.select == summaries[0].select for s in summaries) and len(held) == 2
    assert set(held) <= set(train) and not set(held) & set(test)
    assert all(s.best_val is not None and s.val_manifest for s in summaries)
