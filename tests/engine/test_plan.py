"""The plan and estimate printed before a run: what is cached per cell, the estimate's model,
the costs file, and a dry run that computes nothing heavy."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import fsar_bench
from conftest import TINY_RUN, tiny_synthetic
from fsar_bench.cli import main
from fsar_bench.engine import costs
from fsar_bench.engine.estimate import (
    CellEstimate,
    CellState,
    RunPlan,
    cell_estimate,
    expected_episodes,
    makespan,
)
from fsar_bench.engine.plan_text import cached, todo
from fsar_bench.results.state import TrainingState
from fsar_bench.results.summary import RunSummary, Setting


def _state(**kw) -> CellState:
    base = dict(
        index=0,
        method="otam",
        dataset="synthetic-mid",
        way=5,
        shot=1,
        preset="quick",
        training=0,
        trainings=1,
        train_config={"seed": 0, "lr": 0.001, "episodes": 20000},
        budget=20000,
        val_every=1000,
        val_episodes=2000,
        validates=True,
        test_episodes=1000,
        records=0,
        finished=False,
        checkpoint=None,
        run_dir=Path("r"),
        cost_key="k",
    )
    return CellState(**(base | kw))


def _summary(episodes: int, stop: str = "plateau", **train) -> RunSummary:
    setting = Setting(
        dataset="synthetic-mid",
        way=5,
        shot=1,
        query=1,
        episodes=1000,
        protocol="quick",
        seed=0,
        frames=8,
    )
    return RunSummary(
        method="otam",
        preset="quick",
        method_config={},
        train_config={"seed": 0, "lr": 0.001, "episodes": 20000} | train,
        setting=setting,
        features={},
        backbone="b",
        size=112,
        val_manifest=None,
        manifest="m",
        manifest_file="",
        accuracy={},
        interval_convention="",
        best_val=None,
        train_history=[],
        stop_reason=stop,
        train_episodes=episodes,
        train_seconds=0.0,
        eval_seconds=0.0,
        versions={},
        device="cpu",
    )


def test_a_partial_cell_is_priced_by_the_episodes_it_still_needs():
    cell = _state(checkpoint=TrainingState(step=3000, stop="", validations=3, trained=False))
    est = cell_estimate(cell, costs.CellCost(train=0.01, eval=0.002), (9000, "2 earlier run(s)"))
    assert (est.train_episodes, est.validations, est.test_episodes) == (6000, 6, 1000)
    assert est.seconds == pytest.approx(6000 * 0.01 + (6 * 2000 + 1000) * 0.002)
    assert (
        todo(est) == "train ~6,000 episodes (2 earlier run(s)), 6 validations, test 1,000 episodes"
    )
    assert cached(cell) == "partial checkpoint at 3,000"
    trained = _state(
        checkpoint=TrainingState(step=9008, stop="plateau", validations=9, trained=True)
    )
    est = cell_estimate(trained, costs.CellCost(train=1.0, eval=0.5), (9000, "x"))
    assert (est.train_episodes, est.seconds, est.expected_from) == (0, 500.0, "trained")
    assert cached(trained) == "trained checkpoint (plateau at 9,008)"
    done = cell_estimate(_state(finished=True), None, (9000, "x"))
    assert (done.seconds, todo(done)) == (0.0, "-")
    # beyond the expected episodes: at least one more validation interval
    late = _state(checkpoint=TrainingState(step=9500, stop="", validations=9, trained=False))
    assert cell_estimate(late, None, (9000, "x")).train_episodes == 1000


def test_expected_episodes_prefer_this_machines_earlier_runs():
    cell = _state()
    same = [_summary(8000, seed=1), _summary(10000, seed=2, stop="budget"), _summary(9000, seed=3)]
    assert expected_episodes(cell, same) == (9000, "3 earlier run(s)")
    other = [_summary(4000, lr=0.01), _summary(6000, lr=0.01), _summary(1, lr=0.1, stop="budget")]
    assert expected_episodes(cell, other) == (5000, "2 earlier plateau(s)")  # the budget one: no
    assert expected_episodes(cell, []) == (11008, "method default")
    assert expected_episodes(_state(method="plugin"), []) == (20000, "budget")
    assert expected_episodes(_state(budget=500), same) == (500, "budget (3 earlier run(s))")


def test_makespan_and_the_calibrated_time_left():
    assert makespan([3, 1, 1, 1], 2) == 3 and makespan([3, 1, 1, 1], 1) == 6
    ests = tuple(
        CellEstimate(
            train_episodes=1,
            validations=0,
            test_episodes=0,
            expected=1,
            expected_from="x",
            seconds=10.0,
            cost_from="measured",
        )
        for _ in range(3)
    )
    plan = RunPlan(
        dataset="d",
        jobs=1,
        threads=1,
        cells=(_state(),) * 3,
        estimates=ests,
        extract_frames={},
        extract_seconds=0.0,
    )
    assert plan.total_seconds == 30 and plan.remaining({}) == 30
    assert plan.remaining({0: 20.0}, elapsed=20.0) == 40  # it took twice its estimate
    assert plan.remaining({0: 20.0, 1: 5.0, 2: 5.0}, elapsed=30.0) == 0
    other = dataclasses.replace(plan, cells=(_state(), _state(method="protonet"), _state()))
    assert other.remaining({0: 20.0}, elapsed=20.0) == 20 + 20  # otam x2, protonet: any x2
    assert other.remaining({0: 20.0, 1: 5.0}, elapsed=25.0) == 20  # its own method: x2


def test_the_costs_file_keeps_the_latest_measurement_per_key(tmp_path):
    key = costs.cell_key(
        method="otam", way=5, shot=1, backbone="b", size=112, device="cpu", threads=1, jobs=2
    )
    assert costs.cell_cost(costs.read_costs(tmp_path), key) is None
    cost = costs.measured(
        train_seconds=30.0, trained=1000, validation_episodes=2000, eval_seconds=2.0, evaluated=1000
    )
    assert cost.eval == pytest.approx(0.002) and cost.train == pytest.approx((30 - 4) / 1000)
    costs.record_cell(tmp_path, key, cost=cost, episodes=1000)
    found = costs.cell_cost(costs.read_costs(tmp_path), key)
    assert found.train == pytest.approx(0.026) and found.source == "measured"
    other_jobs = key.replace("jobs=2", "jobs=1")
    assert costs.cell_cost(costs.read_costs(tmp_path), other_jobs).train == pytest.approx(0.026)
    assert (
        costs.measured(
            train_seconds=1, trained=0, validation_episodes=0, eval_seconds=1, evaluated=1
        )
        is None
    )
    assert json.loads((tmp_path / "costs.json").read_text())["format"] == costs.FORMAT


def _fail(*args, **kwargs):
    pytest.fail("a dry run must not train")


@pytest.mark.slow
def test_the_plan_says_what_is_cached_and_a_dry_run_computes_nothing(tmp_path, monkeypatch, capsys):
    import fsar_bench.engine.train as train

    data = tiny_synthetic(tmp_path / "data")
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    opts = TINY_RUN | {"data_root": data, "cache_dir": cache, "runs_dir": runs, "shots": [1]}
    opts |= {"jobs": 1}
    fit, save = train.Trainer.fit, train.Trainer.save
    monkeypatch.setattr(train.Trainer, "fit", _fail)
    res = fsar_bench.run(methods=["protonet", "otam"], dry_run=True, **opts)
    assert len(res) == 0 and [cached(c) for c in res.plan.cells] == ["nothing", "nothing"]
    assert not runs.exists() and not (cache / "features").exists()  # no manifest, no feature
    assert set(res.plan.extract_frames) == {"train", "val", "test"}
    assert res.plan.total_seconds > 0 and not res.plan.unknown
    assert [e.cost_from for e in res.plan.estimates] == ["probe", "probe"]
    out = capsys.readouterr().out
    assert "plan: synthetic-mid, 2 cells" in out and "estimate:" in out

    monkeypatch.setattr(train.Trainer, "fit", fit)
    fsar_bench.run(methods=["protonet"], **opts)
    out = capsys.readouterr().out
    assert out.index("plan: ") < out.index("[1/1] protonet 1-shot")

    def save_then_stop(self):
        save(self)
        raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        fsar_bench.run(methods=["otam"], **opts)
    monkeypatch.setattr(train.Trainer, "save", save)
    monkeypatch.setattr(train.Trainer, "fit", _fail)
    res = fsar_bench.run(methods=["protonet", "otam"], dry_run=True, **opts)
    assert [cached(c) for c in res.plan.cells] == ["finished run", "partial checkpoint at 3"]
    assert [e.train_episodes for e in res.plan.estimates] == [0, 9]
    assert [e.cost_from for e in res.plan.estimates] == ["-", "probe"]
    # another test protocol reuses the trained checkpoint: only its test is left
    res = fsar_bench.run(methods=["protonet"], dry_run=True, **(opts | {"episodes": 12}))
    assert cached(res.plan.cells[0]) == "trained checkpoint (budget at 12)"
    assert todo(res.plan.estimates[0]) == "test 12 episodes"
    assert res.plan.estimates[0].cost_from == "measured"  # protonet's run recorded its costs
    args = ["run", "--dry-run", "--methods", "otam", "--shots", "1", "--jobs", "1"]
    args += ["--way", "3", "--episodes", "24", "--size", "64", "--data-root", str(data)]
    args += ["--cache-dir", str(cache), "--runs-dir", str(runs)]
    for s in TINY_RUN["sets"]:
        args += ["--set", s]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "partial checkpoint at 3" in out and "results:" not in out
