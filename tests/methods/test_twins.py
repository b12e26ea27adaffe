"""Order-only twins: ProtoNet is at chance between them, OTAM separates them.

The synthetic classes come in twin groups with the same motion primitives in reverse order,
so they show the same multiset of frame states (see :mod:`fsar_bench.data.synthetic`). This
validates the data (class information is in the order, not in the frames) and the methods
(the temporal mean is order-blind, OTAM's ordered alignment is not): with two test classes,
which are twins, every 2-way test episode is a twin pair. Both methods are trained the same way
(quick preset, 600 episodes on 32 other classes) on frozen EfficientNet-Lite0 features.
"""

import json

import pytest

from fsar_bench.cli import main
from fsar_bench.data.synthetic import generate, load_classes, preset


@pytest.mark.slow
def test_protonet_is_at_chance_on_twins_while_otam_separates_them(tmp_path):
    data = tmp_path / "data"
    config = preset(
        "none",
        train_classes=32,
        val_classes=2,
        test_classes=2,
        videos_per_class=16,
        frames=16,
        size=64,
    )
    generate(data, config)
    test = sorted(n for n, c in load_classes(data).items() if c["split"] == "test")
    assert load_classes(data)[test[0]]["twins"] == [test[1]]
    args = ["run", "--methods", "protonet,otam", "--shots", "5", "--way", "2"]
    args += ["--episodes", "200", "--size", "64", "--data-root", str(data)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--runs-dir", str(tmp_path / "runs")]
    # the former fixed 600-episode recipe (one episode per step, no plateau rule)
    fixed = ("train.batch=1", "train.patience=0", "train.schedule=constant")
    for value in ("train.episodes=600", "train.val_every=200", "train.val_episodes=50", *fixed):
        args += ["--set", value]
    assert main(args) == 0
    acc = {}
    for path in (tmp_path / "runs").glob("*/*/summary.json"):
        summary = json.loads(path.read_text())
        acc[summary["method"]] = summary["accuracy"]
    proto, otam = acc["protonet"], acc["otam"]
    # ProtoNet: its 95% interval covers chance (50%).
    assert abs(proto["mean"] - 50) <= proto["ci95"]
    # OTAM: clearly above chance and ProtoNet (measured: 81.75 +- 3.62 vs 49.50 +- 4.86).
    assert otam["mean"] - otam["ci95"] > 65 and otam["mean"] - proto["mean"] > 20
