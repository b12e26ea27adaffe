"""``fsar-bench profile`` / ``sweep``: the profile row against hand computations, the sweep's
table and reuse, the command-line plumbing and its one-line errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from toys import order_setup

from conftest import misalignment_report as report
from fsar_bench.analysis.sweep import points as sw
from fsar_bench.analysis.sweep import profile as pf
from fsar_bench.analysis.sweep.results import MethodProfile
from fsar_bench.analysis.sweep.table import rank_correlations, sweep_rows
from fsar_bench.cli import main
from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.report.misalignment import profile_table
from fsar_bench.results.stats import Interval
from fsar_bench.results.summary import RunSummary, Setting


def hand_interval(x) -> tuple[float, float]:
    """Mean and 1.96 * sample std / sqrt(n), by a plain loop."""
    n = len(x)
    mean = sum(x) / n
    var = sum((v - mean) ** 2 for v in x) / (n - 1)
    return mean, 1.959963984540054 * math.sqrt(var) / math.sqrt(n)


def summary(folder: Path, method: str, correct: list[int], manifest: str = "m1", **config):
    """A finished run folder with per-episode records (``n_query`` 5)."""
    folder.mkdir(parents=True)
    lines = [json.dumps({"episode": i, "correct": c, "n_query": 5}) for i, c in enumerate(correct)]
    (folder / "episodes.jsonl").write_text("\n".join(lines) + "\n")
    setting = Setting(
        dataset="d",
        way=5,
        shot=1,
        query=1,
        episodes=len(correct),
        protocol="quick",
        seed=0,
        frames=8,
    )
    acc = 100.0 * np.array(correct) / 5
    return RunSummary(
        method=method,
        preset="quick",
        method_config=config,
        train_config={},
        setting=setting,
        features={},
        backbone="b",
        size=64,
        val_manifest=None,
        manifest=manifest,
        manifest_file="",
        accuracy={"mean": acc.mean(), "ci95": 1.0, "n": len(acc)},
        interval_convention="",
        best_val=None,
        train_history=[],
        train_seconds=0,
        eval_seconds=0,
        versions={},
        device="cpu",
        dir=str(folder),
    )


def method(name: str, mean: float, shot: int = 1) -> MethodProfile:
    """A trained run of a point, accuracy ``mean`` +- 2 points."""
    return MethodProfile(
        method=name, shot=shot, dir=name, accuracy=Interval(mean=mean, ci95=2.0, n=10)
    )


def test_alignment_gain_and_spread_match_a_hand_computation(tmp_path):
    otam_c, blind_c = [5, 3, 4, 2, 5, 1], [4, 3, 2, 2, 5, 3]
    otam = summary(tmp_path / "o", "otam", otam_c)
    blind = summary(tmp_path / "b", "otam", blind_c, matching="mean")
    proto = summary(tmp_path / "p", "protonet", [1, 1, 1, 1, 1, 1])
    row = pf.profile_row(report(), [otam, proto], {}, [blind])
    (gain,) = row.alignment_gain
    mean, ci = hand_interval([20.0 * (a - b) for a, b in zip(otam_c, blind_c)])
    diff = gain.difference
    assert diff.diff.mean == pytest.approx(mean) and diff.diff.ci95 == pytest.approx(ci)
    assert (diff.wins, diff.losses, diff.diff.n) == (2, 1, 6)
    rule = row.start_spread.ta2n_rule  # steps 0, 0, 0, 1 and six that never start
    m, sd = 0.25, math.sqrt(((3 * 0.25**2) + 0.75**2) / 3)
    assert rule.mean_steps == pytest.approx(m) and rule.std_steps == pytest.approx(sd)
    assert rule.never_share == pytest.approx(0.6) and row.start_spread.truth is None
    assert [m.method for m in row.methods] == ["otam", "protonet"]
    other = summary(tmp_path / "x", "otam", blind_c, manifest="m2")
    with pytest.raises(Exception, match="one test manifest"):
        pf.alignment_gain(otam, other)


def test_order_sensitivity_pairs_each_order_with_the_original():
    manifest, load, _ = order_setup()
    torch.manual_seed(0)
    otam = create_method("otam", 8)
    accs = pf.order_accuracies(otam, manifest, load, device="cpu", seed=0)
    out = pf.order_sensitivity(accs)
    for mode in ("reverse", "shuffle"):
        diffs = [a - b for a, b in zip(accs[mode], accs["original"])]
        mean, ci = hand_interval(diffs)
        change = getattr(out, mode).minus_original
        assert change.diff.mean == pytest.approx(mean) and change.diff.ci95 == pytest.approx(ci)
    assert out.original.mean == pytest.approx(np.mean(accs["original"]))
    proto = create_method("protonet", 8)  # order-blind: no change at all
    same = pf.order_sensitivity(pf.order_accuracies(proto, manifest, load, device="cpu"))
    assert same.reverse.minus_original.diff.mean == 0.0
    assert same.shuffle.minus_original.wins == 0


def test_sweep_rows_and_rank_correlations():
    methods = (method("otam", 50.0), method("protonet", 40.0))
    points = [
        dataclasses.replace(
            pf.profile_row(report(f"l{k}", aem=a, ref=r), [], {}, []), methods=methods
        )
        for k, (a, r) in enumerate([(0.20, 0.01), (0.25, 0.03), (0.24, 0.02), (0.3, 0.05)])
    ]
    rows = sweep_rows(["none", "low", "mid", "high"], points)
    assert len(rows) == 8 and rows[2].level == "low" and rows[3].method == "protonet"
    assert rows[2].aem_eq10 == 0.25 and rows[2].aem_reference_progress == 0.03
    corr = rank_correlations(points)
    # ranks of the AEM 1, 3, 2, 4 against 1, 2, 3, 4: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert corr.aem_vs_level == pytest.approx(0.8)
    assert corr.aem_vs_reference_progress == pytest.approx(1.0)
    table = profile_table({p.dataset: p for p in points})
    assert len(table.rows) == 4 and "otam 1-shot acc" in table.header
    assert table.rows[0][table.header.index("AEM truth (progress)")] == "0.0100"


def fake_point(calls: list):
    def point(source, req, progress=None, on_cell=None):
        calls.append((source.name, req))
        k = len(calls)
        row = pf.profile_row(report(source.name, aem=0.1 * k, ref=0.01 * k), [], {}, [])
        return dataclasses.replace(row, methods=tuple(method(m, 10.0 * k) for m in req.run.methods))

    return point


def test_sweep_command_plumbs_options_and_writes_the_table(tmp_path, monkeypatch, capsys):
    calls: list = []
    monkeypatch.setattr(sw, "profile_point", fake_point(calls))
    args = [
        "sweep",
        "--factor",
        "evolution",
        "--levels",
        "none,low,0.5,2",
        "--methods",
        "protonet,otam",
        "--episodes",
        "7",
        "--set",
        "train.episodes=9",
        "--set",
        "probe.epochs=3",
        "--set",
        "otam.lam=0.2",
        "--no-order",
        "--out",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "c"),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    names = [c[0] for c in calls]
    assert names == [
        "synthetic-none",
        "synthetic-evolution-low",
        "synthetic-evolution-mid",
        "synthetic-evolution-2",
    ]
    req = calls[0][1]
    assert all(c[1] == req for c in calls)  # identical request (episode specs) per level
    assert req.run.episodes == 7 and req.run.methods == ("protonet", "otam")
    assert req.run.sets == {"train": {"episodes": "9"}, "otam": {"lam": "0.2"}}
    assert req.measure.probe.epochs == 3 and req.order is False and req.out == tmp_path
    assert req.run.maps and req.measure.features.maps  # maps unless --pooled-only
    rows = list(csv.DictReader(open(tmp_path / "sweep-evolution" / "sweep.csv")))
    assert len(rows) == 8 and [r["level"] for r in rows[::2]] == ["none", "low", "0.5", "2"]
    saved = json.loads((tmp_path / "sweep-evolution" / "sweep.json").read_text())
    assert saved["rank_correlations"]["aem_vs_level"] == pytest.approx(1.0)
    for fig in ("sweep_accuracy", "sweep_aem", "sweep_order", "sweep_start_error"):
        assert (tmp_path / "sweep-evolution" / f"{fig}.png").is_file()
    out = capsys.readouterr().out
    assert "aem_vs_level 1.000" in out
    header = out.splitlines()[0].split()  # the levels in the order given, not sorted
    assert header[1:] == names


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--factor", "tempo"], "unknown synthetic factor 'tempo'; choose from"),
        (["--factor", "evolution", "--levels", "none,lwo"], "did you mean low?"),
        (["--factor", "evolution", "--levels", "mid"], "needs at least two levels"),
        (["--factor", "evolution", "--levels", "none,0,mid"], "synthetic-none is given twice"),
        (["--factor", "spatial", "--set", "ta2n.x=1"], "--set section 'ta2n' is neither"),
        (["--factor", "spatial", "--methods", "ta2n", "--pooled-only"], "ta2n reads spatial maps"),
    ],
)
def test_bad_factor_or_levels_fail_in_one_line(extra, message, tmp_path, capsys):
    assert main(["sweep", *extra, "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("error: ")
    assert not any(tmp_path.iterdir())  # nothing prepared


def test_pooled_only_reaches_the_runs_and_the_probe(tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(sw, "profile_point", fake_point(calls))
    args = [
        "sweep",
        "--factor",
        "duration",
        "--levels",
        "none,0.5",
        "--pooled-only",
        "--out",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "c"),
        "--device",
        "cpu",
    ]
    assert main(args) == 0
    req = calls[0][1]
    assert not req.run.maps and not req.measure.features.maps
    assert [c[0] for c in calls] == ["synthetic-none", "synthetic-duration-0.5"]
    assert req.run.methods == ("otam", "protonet") and req.run.shots == (1,)


def test_gain_request_sets_the_order_blind_matching():
    run = sw.RunRequest(methods=("otam", "protonet"), sets={"otam": {"lam": "0.2"}})
    blind = sw.gain_request(run)
    assert blind.methods == ("otam",) and blind.sets["otam"] == {"lam": "0.2", "matching": "mean"}
    assert sw.gain_request(sw.RunRequest(methods=("protonet",))) is None


@pytest.mark.slow
def test_profile_point_runs_everything_then_reuses_it(tmp_path, monkeypatch):
    from fsar_bench.data.synthetic import generate, preset

    root = generate(
        tmp_path / "data",
        preset(
            "mid",
            train_classes=4,
            val_classes=2,
            test_classes=4,
            videos_per_class=4,
            frames=12,
            size=32,
        ),
    )
    args = [
        "profile",
        "synthetic-mid",
        "--data-root",
        str(root),
        "--cache-dir",
        str(tmp_path / "c"),
        "--out",
        str(tmp_path / "out"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--way",
        "2",
        "--episodes",
        "6",
        "--size",
        "64",
        "--device",
        "cpu",
        "--set",
        "train.episodes=4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=2",
        "--set",
        "probe.epochs=2",
        "--set",
        "probe.batch=4",
        "--set",
        "probe.width=16",
        "--set",
        "probe.hidden=8",
    ]
    assert main(args) == 0
    point = json.loads((tmp_path / "out" / "synthetic-mid" / "profile.json").read_text())
    assert (tmp_path / "out" / "synthetic-mid" / "aem.json").is_file()
    methods = {m["method"]: m for m in point["methods"]}
    assert set(methods) == {"otam", "protonet"} and len(point["alignment_gain"]) == 1
    rev = methods["protonet"]["order"]["reverse"]["minus_original"]
    assert rev["mean"] == 0.0 and rev["wins"] == rev["losses"] == 0  # order-blind
    runs = list((tmp_path / "runs" / "synthetic-mid").glob("otam-*"))
    assert len(runs) == 2  # OTAM and OTAM matching=mean
    blind = [json.loads((r / "summary.json").read_text()) for r in runs]
    assert sorted(b["method_config"]["matching"] for b in blind) == ["mean", "otam"]
    assert point["start_spread"]["truth"]["videos"] == point["videos"]

    def refuse(*a, **k):
        raise AssertionError("a finished point was recomputed")

    monkeypatch.setattr("fsar_bench.engine.run.run_benchmark", refuse)
    monkeypatch.setattr("fsar_bench.analysis.measures.outputs.measure", refuse)
    assert main(args) == 0
    assert json.loads((tmp_path / "out" / "synthetic-mid" / "profile.json").read_text()) == point


def test_report_has_one_profile_row_per_dataset(tmp_path):
    from toys import fake_run, flat

    for method in ("protonet", "otam"):
        fake_run(tmp_path / "runs", "toy", method, 1, flat(0.5))
    for k, name in enumerate(("synthetic-none", "synthetic-high", "ssv2-full")):
        point = pf.profile_row(report(name, aem=0.2 + k / 10, ref=None), [], {}, [])
        (tmp_path / "analysis" / name).mkdir(parents=True)
        (tmp_path / "analysis" / name / "profile.json").write_text(json.dumps(point.to_json()))
    args = [
        "report",
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "out"),
        "--analysis",
        str(tmp_path / "analysis"),
    ]
    assert main(args) == 0
    lines = (tmp_path / "out" / "tables" / "profile.md").read_text().splitlines()
    rows = [line for line in lines if line.startswith("| synthetic-") or line.startswith("| ssv2")]
    assert len(rows) == 3 and rows[0].startswith("| ssv2-full |")  # the report's dataset order
    assert "| 0.4000 [0.3900, 0.4100] |" in rows[0]
    assert "profile table" not in (tmp_path / "out" / "report.md").read_text()


def test_profile_json_names_the_start_rule_and_reads_files_written_before(tmp_path):
    from fsar_bench.report.misalignment import read_profile

    point = dataclasses.replace(pf.profile_row(report(), [], {}, []), methods=(method("otam", 50),))
    written = point.to_json()
    assert "ta2n_rule" in written["start_spread"] and "ta2n" not in written["start_spread"]
    spread = written["start_spread"]
    old = {**written, "start_spread": {"ta2n": spread["ta2n_rule"], **spread}}
    del old["start_spread"]["ta2n_rule"]  # a profile.json of an earlier version
    (tmp_path / "profile.json").write_text(json.dumps(old))
    assert read_profile(tmp_path / "profile.json").to_json() == written
    (tmp_path / "bad.json").write_text(json.dumps({**written, "aem": None}))
    with pytest.raises(FsarError, match="bad.json: not a profile.json of fsar-bench"):
        read_profile(tmp_path / "bad.json")
