"""The report's intervals over trainings and test classes (``--ci``), on stored runs fabricated
through the real file formats: 10 test classes (the HMDB51 split's count), three trainings."""

from __future__ import annotations

import numpy as np
import pytest
from toys import fake_run, flat, md_table

from fsar_bench.cli import main
from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.results.hierarchy import cell_interval
from fsar_bench.results.summary import load_summaries

CLASSES, EPISODES = 10, 300


def skill_by_class(c: str) -> float:
    """Accuracy of a query of ``class0`` ... ``class9``: 0.2 to 0.74, a large class effect."""
    return 0.2 + 0.06 * int(c.removeprefix("class"))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    for s in (0, 1, 2):
        kw = {"train_seed": s, "episodes": EPISODES, "n_classes": CLASSES}
        fake_run(runs, "toy", "protonet", 1, skill_by_class, **kw)
        fake_run(runs, "toy", "otam", 1, flat(0.6), **kw)
    return runs


def _cells(store, tmp_path, *ci: str) -> tuple[dict, str]:
    out = tmp_path / "-".join(ci or ("default",))
    assert main(["report", "--runs", str(store), "--out", str(out), *ci]) == 0
    rows = md_table(out / "tables/main.md")[1]
    return {r[0]: r[3] for r in rows}, (out / "report.md").read_text()


def _half(cell: str) -> float:
    return float(cell.split(" ± ")[1].split(" ")[0])


def test_class_level_reaches_the_interval(store, tmp_path):
    episodes, text = _cells(store, tmp_path)
    assert episodes["protonet"].endswith("]") and "classes;" not in episodes["protonet"]
    assert "10 test classes: the intervals hold the test classes fixed" in text
    classes, text = _cells(store, tmp_path, "--ci", "classes")
    assert "[3 trainings, 10 classes; episodes only ± " in classes["protonet"]
    assert "trainings x test episodes x test classes" in text
    assert "10 test classes: the intervals hold" not in text
    # a class effect widens the interval; none (otam's flat skill) leaves it nearly as it was
    assert _half(classes["protonet"]) > 2 * _half(episodes["protonet"])
    assert _half(classes["otam"]) < 1.5 * _half(episodes["otam"])
    auto, _ = _cells(store, tmp_path, "--ci", "auto")
    assert auto == classes  # 10 < 30 test classes


def test_headline_is_cell_interval_of_the_stacked_trainings(store, tmp_path):
    """Wiring oracle: the table's cell is hierarchy.cell_interval of the three trainings'
    per-episode accuracies (seed order), its episode-only interval the normal one."""
    cells, _ = _cells(store, tmp_path, "--ci", "classes")
    runs = sorted(
        (s for s in load_summaries(store) if s.method == "protonet"), key=lambda s: s.training.seed
    )
    acc = np.stack([s.episode_accuracies() for s in runs])
    from fsar_bench.report.intervals import test_classes

    ci = cell_interval(acc, classes=test_classes(runs[0]), n_boot=2000, seed=0)
    col = acc.mean(0)
    ep = 1.959964 * col.std(ddof=1) / np.sqrt(col.size)
    half = (ci.estimate.high - ci.estimate.low) / 2
    want = f"{acc.mean():.2f} ± {half:.2f} [3 trainings, 10 classes; episodes only ± {ep:.2f}]"
    assert cells["protonet"] == want


def test_paired_table_over_trainings(store, tmp_path):
    out = tmp_path / "paired"
    assert main(["report", "--runs", str(store), "--out", str(out)]) == 0
    head, rows = md_table(out / "tables/paired.md")
    assert head[3:7] == ["trainings", "difference (95% CI)", "episodes only", "P(A > B) (95% CI)"]
    (row,) = rows
    assert row[0] == "otam - protonet" and row[3] == "3"
    a = np.stack([s.episode_accuracies() for s in _by_seed(store, "otam")])
    b = np.stack([s.episode_accuracies() for s in _by_seed(store, "protonet")])
    assert row[4].startswith(f"{(a - b).mean():+.2f} ± ")
    win = ((a > b) + 0.5 * (a == b)).mean()  # paired by training seed, ties half
    assert row[6].startswith(f"{win:.3f} [")
    assert row[7:] == ["—", "—", "—"]  # episode-level tests: one training each only
    text = (out / "report.md").read_text()
    assert "P(A > B): probability that A's training beats B's training of the same seed" in text
    csv = (out / "tables/paired.csv").read_text()
    assert "P(A > B) (95% CI)" in csv and "+-" in csv
    tex = (out / "tables/paired.tex").read_text()
    assert r"P(A $>$ B)" in tex and "—" not in tex


def _by_seed(store, method):
    runs = [s for s in load_summaries(store) if s.method == method]
    return sorted(runs, key=lambda s: s.training.seed)


def test_interval_options():
    assert IntervalOptions().ci == "episodes"
    assert IntervalOptions(ci="auto").class_level(10, 5)
    assert not IntervalOptions(ci="auto").class_level(30, 5)
    assert IntervalOptions(ci="classes").class_level(30, 5)
    assert not IntervalOptions(ci="classes").class_level(5, 5)  # K = way: no class effect
    assert not IntervalOptions().class_level(10, 5)


def test_bad_ci_is_a_one_line_error(store, tmp_path, capsys):
    assert main(["report", "--runs", str(store), "--out", str(tmp_path), "--ci", "class"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--ci 'class'" in err
