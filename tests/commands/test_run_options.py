"""Every ``fsar-bench run`` option reaches the request the engine records (no setting ignored)."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from fsar_bench.cli import main
from fsar_bench.commands.run import run
from fsar_bench.data.synthetic import generate, preset

# option -> (CLI value, where it must arrive: a function of (source, req) -> the value seen)
NON_DEFAULT = {
    "methods": ("otam,trn++", lambda s, r: r.methods, ("otam", "trn")),
    "dataset": ("synthetic-high", lambda s, r: s.name, "synthetic-high"),
    "shots": ("2,3", lambda s, r: r.shots, (2, 3)),
    "way": ("4", lambda s, r: r.way, 4),
    "protocol": ("ta2n", lambda s, r: r.protocol, "ta2n"),
    "preset": ("paper", lambda s, r: r.preset, "paper"),
    "episodes": ("7", lambda s, r: r.episodes, 7),
    "seed": ("3", lambda s, r: r.seed, 3),
    "backbone": ("resnet50", lambda s, r: r.backbone, "resnet50"),
    "size": ("96", lambda s, r: r.size, 96),
    "frames": ("6", lambda s, r: r.frames, 6),
    "weights": ("W.pth", lambda s, r: r.weights, "W.pth"),
    "sets": ("otam.lam=0.5", lambda s, r: r.sets, {"otam": {"lam": "0.5"}}),
    "select": ("holdout:3", lambda s, r: r.select, "holdout:3"),
    "baseline": ("otam", None, None),  # printed tables only (checked below)
    "runs_dir": ("RUNS", lambda s, r: r.runs.name, "RUNS"),
    "data_root": ("DATA", lambda s, r: s.root.name, "DATA"),
    "cache_dir": ("CACHE", lambda s, r: s.cache.name, "CACHE"),
    "missing": ("skip", lambda s, r: s.missing, "skip"),
    "variant": ("", lambda s, r: s.variant, ""),  # synthetic data has no list variants
    "device": ("cpu", lambda s, r: r.device, "cpu"),
    "finetune": (None, lambda s, r: r.finetune, True),  # a flag: no value
    "workers": ("2", lambda s, r: r.workers, 2),
    "jobs": ("3", lambda s, r: r.jobs, 3),
    "dry_run": (None, None, None),  # the run's watch (checked below)
    "trainings": ("3", lambda s, r: r.trainings, 3),
    "ci": ("classes", None, None),  # printed tables only (checked below)
    "map_size": ("3", lambda s, r: r.map_size, 3),
    "pooled_only": (None, lambda s, r: r.maps, False),
    "views": ("2", lambda s, r: r.views, 2),
    "quiet": (None, None, None),  # the reporter (checked below)
    "log_format": ("json", None, None),
    "log_every": ("5", None, None),
}


def _flag(name: str) -> str:
    param = inspect.signature(run).parameters[name].default
    return next(d for d in param.param_decls if d.startswith("--")).split("/")[0]


def _capture_run(monkeypatch) -> dict:
    """Replace the engine's run by one that records what the CLI passed it (filled per call)."""
    import fsar_bench.engine.run as engine

    seen = {}

    def fake(source, req, progress=None, *, watch=None, on_cell=None):
        seen["source"], seen["req"], seen["watch"] = source, req, watch
        seen["progress"] = progress
        return ["a summary"]  # printed by run_tables (faked where a test reads the tables)

    monkeypatch.setattr(engine, "run_benchmark", fake)
    return seen


def test_every_option_of_run_reaches_the_request(tmp_path, monkeypatch, capsys):
    assert set(inspect.signature(run).parameters) == set(NON_DEFAULT), "update NON_DEFAULT"
    seen = _capture_run(monkeypatch)
    tables = {}
    monkeypatch.setattr(
        "fsar_bench.report.console.run_tables",
        lambda s, b, i: tables.update(baseline=b, ci=i.ci) or "",
    )
    monkeypatch.chdir(tmp_path)
    args = ["run"]
    for name, (value, _, _) in NON_DEFAULT.items():
        args += [_flag(name)] + ([] if value is None else [value])
    assert main(args) == 0
    for name, (_, get, want) in NON_DEFAULT.items():
        if get is not None:
            assert get(seen["source"], seen["req"]) == want, name
    assert seen["watch"].dry_run and tables == {}  # a dry run prints no tables
    capsys.readouterr()
    assert main([a for a in args if a != "--dry-run"]) == 0
    assert tables == {"baseline": "otam", "ci": "classes"}
    report = seen["progress"]  # --quiet: no progress; the final output one JSON line
    assert type(report).__name__ == "Silent" and report.show_results
    (line,) = capsys.readouterr().out.splitlines()
    end = json.loads(line)
    assert end["event"] == "end" and end["text"] == "\n\nresults: RUNS/synthetic-high"


def test_run_without_options_is_the_readmes_default_workload(tmp_path, monkeypatch):
    """The README's default: four methods, 5-way 1-shot, synthetic-mid, the quick preset."""
    seen = _capture_run(monkeypatch)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--dry-run", "--quiet"]) == 0
    req = seen["req"]
    assert req.methods == ("protonet", "otam", "trn", "ta2n")
    assert (req.way, req.shots, req.preset) == (5, (1,), "quick")
    assert seen["source"].name == "synthetic-mid"


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    for bad in (
        ["--preset", "fast"],
        ["--shots", "one"],
        ["--methods", "otamm"],
        ["--set", "optimizer=adam"],
        ["--set", "otam.lamda=1"],
        ["--protocol", "nope"],
        ["--set", "train.optimizer=adamw"],
        ["--episodes", "0"],
        ["--set", "train.episodes=0"],
        ["--select", "holdout:1"],
        ["--select", "best"],
        ["--methods", "no_such_pkg.mod:Net"],
        ["--methods", "fsar_bench.methods.base:gather_state"],
        ["--methods", "fsar_bench.methods.otam:OTAMConfig"],
        ["--dataset", "./no/such/folder"],
        ["--dataset", "synthetc"],
        ["--ci", "trainings"],
        ["--trainings", "0"],
        ["--views", "0"],
        ["--views", "2", "--finetune"],
    ):
        assert main(["run", "--cache-dir", str(tmp_path), *bad]) == 2, bad
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:"), err


@pytest.mark.slow
def test_preset_paper_lands_in_the_recorded_config(tmp_path):
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
    args = [
        "run",
        "--methods",
        "protonet",
        "--shots",
        "1",
        "--way",
        "2",
        "--episodes",
        "4",
        "--size",
        "64",
        "--preset",
        "paper",
        "--data-root",
        str(data),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "train.episodes=2",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=2",
    ]
    assert main(args) == 0
    (config_file,) = Path(tmp_path / "runs").glob("*/protonet-*/config.json")
    config = json.loads(config_file.read_text())
    assert config["preset"] == "paper"
    assert config["train_config"]["optimizer"] == "sgd"  # the paper preset's recipe
    assert config["train_config"]["episodes"] == 2  # the user's --set wins over the preset
    assert config["method_config"]["learn_scale"] is False  # quick-only method value absent
