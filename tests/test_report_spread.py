"""Retrainings with other training seeds: kept out of the main tables, summarised in their own."""

from __future__ import annotations

import statistics

import pandas as pd
from test_report import fake_run, flat, md_table

from fsar_bench.report.build import build_report
from fsar_bench.results.stats import mean_ci


def test_training_seeds_go_to_the_spread_table_only(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    fake_run(runs, "toy", "protonet", 1, flat(0.4), train_seed=0)
    per_episode = {
        s: fake_run(runs, "toy", "ta2n", 1, flat(p), train_seed=s)[1]
        for s, p in ((0, 0.7), (1, 0.5), (2, 0.6))
    }
    acc = {s: a.mean() for s, a in per_episode.items()}
    ci = statistics.mean(mean_ci(a).ci95 for a in per_episode.values())
    lone = fake_run(runs, "toy", "otam", 1, flat(0.6), train_seed=3)[1].mean()  # no seed-0 run
    build_report(runs, out)

    _, main = md_table(out / "tables/main.md")
    cells = {r[0]: r[3] for r in main}
    assert set(cells) == {"protonet", "ta2n", "otam"}  # no train.seed variants
    assert cells["ta2n"].startswith(f"{acc[0]:.2f} ± ")  # the own-seed training
    assert cells["otam"].startswith(f"{lone:.2f} ± ")  # a lone training seed stays
    _, paired = md_table(out / "tables/paired.md")
    assert sorted(r[0] for r in paired) == ["otam - protonet", "ta2n - protonet"]
    curves = pd.read_csv(out / "figures/learning_curves_toy.csv")
    assert sorted(set(curves["label"])) == ["otam", "protonet", "ta2n"]

    head, rows = md_table(out / "tables/training_spread.md")
    assert head[:5] == ["method", "dataset", "setting", "trainings", "accuracy per train.seed"]
    values = list(acc.values())
    assert rows == [
        [
            "ta2n",
            "toy",
            "1-shot",
            "3",
            ", ".join(f"{s}: {a:.2f}" for s, a in acc.items()),
            f"{statistics.mean(values):.2f}",
            f"{statistics.stdev(values):.2f}",
            f"{min(values):.2f}-{max(values):.2f}",
            f"{ci:.2f}",
        ]
    ]
    text = (out / "report.md").read_text()
    assert "### Training spread" in text and "training spread: needs" not in text


def test_no_spread_table_without_two_training_seeds(tmp_path):
    fake_run(tmp_path / "runs", "toy", "protonet", 1, flat(0.4))
    fake_run(tmp_path / "runs", "toy", "ta2n", 1, flat(0.6), train_seed=0)
    build_report(tmp_path / "runs", tmp_path / "out")
    assert not (tmp_path / "out/tables/training_spread.md").exists()
    text = (tmp_path / "out/report.md").read_text()
    assert "training spread: needs a cell trained with two" in text
