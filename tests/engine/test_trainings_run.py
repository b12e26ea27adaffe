"""``fsar-bench run --trainings 3`` and ``report --ci`` end to end on a tiny synthetic dataset with
10 test classes (the HMDB51 split's count): three trainings per method with distinct seeds on one
test manifest, earlier runs (the default training, a ``--set train.seed=1`` retraining) reused
as trainings, the tables over trainings, and the class-level interval."""

from __future__ import annotations

import pytest

from fsar_bench.cli import main
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.report.console import ONE_TRAINING
from fsar_bench.results.summary import Training, load_summaries


@pytest.mark.slow
def test_trainings_reuse_runs_and_reach_tables_and_report(tmp_path, capsys, monkeypatch):
    import fsar_bench.engine.run as engine

    data = generate(
        tmp_path / "data",
        preset(
            "mid",
            train_classes=2,
            val_classes=2,
            test_classes=10,
            videos_per_class=3,
            frames=8,
            size=64,
        ),
    )
    runs = tmp_path / "runs"
    base = [
        *("run", "--shots", "1", "--way", "2", "--size", "64", "--frames", "4"),
        *("--episodes", "60", "--data-root", str(data), "--cache-dir", str(tmp_path / "cache")),
        *("--runs-dir", str(runs), "--set", "train.episodes=4", "--set", "train.val_every=2"),
        *("--set", "train.val_episodes=2"),
    ]
    both = [*base, "--methods", "protonet,otam"]
    assert main(both) == 0  # today's run: one training each
    out = capsys.readouterr().out
    assert ONE_TRAINING in out and "[3 trainings" not in out
    assert main([*base, "--methods", "protonet", "--set", "train.seed=1"]) == 0  # a retraining
    before = {p: p.read_bytes() for p in runs.glob("*/*/summary.json")}
    capsys.readouterr()

    trained = []
    train = engine._train
    monkeypatch.setattr(
        engine, "_train", lambda ctx, cell: trained.append(cell) or train(ctx, cell)
    )
    assert main([*both, "--trainings", "3"]) == 0
    out = capsys.readouterr().out
    assert sorted((c.info.name, c.train.seed) for c in trained) == [
        ("otam", 1),
        ("otam", 2),
        ("protonet", 2),
    ]  # only the new trainings; the train.seed=1 run is protonet's training 2 of 3
    assert all(p.read_bytes() == b for p, b in before.items())
    assert "[3 trainings; episodes only" in out and "P(A > B)" in out
    assert ONE_TRAINING not in out

    summaries = load_summaries(runs)
    assert len(summaries) == 6 and len({s.manifest for s in summaries}) == 1
    for method in ("protonet", "otam"):
        mine = [s for s in summaries if s.method == method]
        assert sorted(s.training.seed for s in mine) == [0, 1, 2]
        assert sorted(s.train_config["seed"] for s in mine) == [0, 1, 2]
        assert len({s.checkpoint for s in mine}) == 3
    new = {(s.method, s.training.seed): s.training for s in summaries if s.training.of == 3}
    assert new == {
        ("otam", 1): Training(seed=1, index=1, of=3),
        ("otam", 2): Training(seed=2, index=2, of=3),
        ("protonet", 2): Training(seed=2, index=2, of=3),
    }

    report = ["report", "--runs", str(runs), "--out", str(tmp_path / "out")]
    assert main([*report, "--ci", "classes"]) == 0
    text = (tmp_path / "out/report.md").read_text()
    assert "[3 trainings, 10 classes; episodes only ± " in text
    assert "P(A > B)" in text and "x test classes" in text
    assert "`fsar-bench report --runs" in text and "--ci classes" in text  # the command
    assert main(report) == 0  # default: the classes held fixed, and said so
    text = (tmp_path / "out/report.md").read_text()
    assert "[3 trainings; episodes only ± " in text
    assert "10 test classes: the intervals hold the test classes fixed" in text
