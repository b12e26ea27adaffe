"""A cell's trainings (runs that differ only in their training seed): pooled in the main and
paired tables, one per seed in the training-spread table, the first in the figures."""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest
from toys import fake_run, flat, md_table

from fsar_bench.report.build import build_report
from fsar_bench.results.stats import mean_ci
from fsar_bench.results.summary import load_summaries


def fake_run_acc(runs, method):
    """Per-episode accuracies of the one stored run of ``method``."""
    (s,) = [s for s in load_summaries(runs) if s.method == method]
    return s.episode_accuracies()


def test_training_seeds_are_one_cell_in_main_and_one_row_each_in_spread(tmp_path):
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
    mean = statistics.mean(acc.values())
    assert cells["ta2n"].startswith(f"{mean:.2f} ± ")  # the mean over the three trainings
    col = np.mean(list(per_episode.values()), axis=0)  # per-episode means over trainings
    ep = 1.959964 * col.std(ddof=1) / np.sqrt(col.size)
    assert cells["ta2n"].endswith(f" [3 trainings; episodes only ± {ep:.2f}]")
    half = float(cells["ta2n"].split(" ± ")[1].split(" ")[0])
    means = list(acc.values())  # the trainings dominate: about t(2) x SD / sqrt(3)
    assert half == pytest.approx(4.303 * statistics.stdev(means) / np.sqrt(3), rel=0.1)
    assert half > 3 * ep
    assert cells["otam"].startswith(f"{lone:.2f} ± ")  # a lone training seed stays
    assert "[" not in cells["otam"]  # one training: the run's own episode interval
    _, paired = md_table(out / "tables/paired.md")
    by_name = {r[0]: r for r in paired}
    assert sorted(by_name) == ["otam - protonet", "ta2n - protonet"]
    assert by_name["ta2n - protonet"][3] == "1"  # protonet has seed 0 only: paired on it
    d = per_episode[0] - fake_run_acc(runs, "protonet")
    assert by_name["ta2n - protonet"][4].startswith(f"{d.mean():+.2f} ± ")
    assert by_name["otam - protonet"][3] == "1 (by order)"  # seed 3 against seed 0
    curves = pd.read_csv(out / "figures/learning_curves_toy.csv")
    assert sorted(set(curves["label"])) == ["otam", "protonet", "ta2n"]
    assert len(curves[curves["label"] == "ta2n"]) == 4  # one training's curve (4 validations)

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
    assert "1 training: training spread not measured (--trainings 3)" in text
