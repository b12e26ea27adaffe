"""Issue 24, rows 1-6 and 9: a test per row of "results that can be silently wrong".

Each test reproduces its row as the issue describes it (on the tiny synthetic runs of the
fault suite's reference) and asserts what the fixed suite does instead. Rows 7, 8 and 10-12 are
in ``test_issue_inputs.py``.
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
from faultkit import KILLED, REPORT, RUN, copy_tree, differences, snapshot

from fsar_bench.cli import main
from fsar_bench.errors import FsarError

RUN_PARTS = ("data", "cache/index", "cache/features", "cache/checkpoints", "runs")
FINISHED = ("data", "cache/features", "cache/checkpoints", "runs")
TRAINED = ("data", "cache/features", "cache/checkpoints")  # the runs are evaluated again


def NOWHERE(tmp_path) -> list[str]:  # noqa: N802 (a constant made per test)
    """Options of a real dataset without data: a command that got past its checks stops at
    once (never generates or extracts a default dataset)."""
    return ["--dataset", "ssv2-full", "--data-root", str(tmp_path / "none")] + [
        "--cache-dir",
        str(tmp_path / "cache"),
    ]


def _run_dir(root, method: str = "protonet"):
    return next((root / "runs").glob(f"*/{method}-*"))


# --- row 1: code runs from a results folder --------------------------------------------------
def test_row1_a_stored_method_name_is_a_label(tmp_path, monkeypatch):
    """What the report asks of a stored name (its rank, its neutral fields, whether it is a
    method) never imports it, even when a module of that name is importable."""
    from fsar_bench.methods import METHODS
    from fsar_bench.report.seeds import _neutral
    from fsar_bench.report.tables import method_order

    marker = tmp_path / "code-ran"
    (tmp_path / "evilmod2.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass X: pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert method_order("evilmod2:X (lam=1)") == (1000, "evilmod2:X (lam=1)")
    assert _neutral("evilmod2:X") == () and "evilmod2:X" not in METHODS
    assert METHODS.known("evilmod2:X") is None and METHODS.known("protonet").name == "protonet"
    assert not marker.exists() and "evilmod2" not in sys.modules


@pytest.mark.slow
def test_row1_report_never_imports_a_module_a_summary_names(reference, tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    copy_tree(reference.root, archive, ("runs",))
    summary_file = _run_dir(archive, "otam") / "summary.json"
    summary = json.loads(summary_file.read_text())
    summary |= {"method": "evilmod:X", "method_origin": "import path evilmod:X"}
    summary_file.write_text(json.dumps(summary))
    marker = tmp_path / "code-ran"
    (archive / "evilmod.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass X: pass\n")
    monkeypatch.chdir(archive)
    monkeypatch.syspath_prepend(str(archive))  # as `python -m fsar_bench` puts the cwd there
    assert main(["report", "--runs", "runs", "--out", "rep", "--figures", "png"]) == 0
    assert not marker.exists() and "evilmod" not in sys.modules
    assert "evilmod:X" in (archive / "rep" / "tables" / "main.md").read_text()  # a label


def test_row1_a_run_of_an_unknown_method_is_not_rebuilt_from_its_stored_path(tmp_path):
    from fsar_bench.analysis.measures.alignment import method_from_run
    from fsar_bench.results.summary import RunSummary, Setting

    setting = Setting(
        dataset="d", way=2, shot=1, query=1, episodes=1, protocol="q", seed=0, frames=4
    )
    fields = {
        "preset": "quick",
        "method_config": {"return_extras": False},
        "train_config": {},
        "setting": setting,
        "features": {},
        "backbone": "b",
        "size": 64,
        "val_manifest": None,
        "manifest": "m",
        "manifest_file": "",
        "accuracy": {},
        "interval_convention": "",
        "best_val": None,
        "train_history": [],
        "train_seconds": 0,
        "eval_seconds": 0,
        "versions": {},
        "device": "cpu",
    }
    evil = RunSummary(
        method="x",
        method_origin="import path os:system",
        method_factory="os:system",
        **fields,
    )
    with pytest.raises(FsarError, match="not installed here") as err:
        method_from_run(evil, 8)
    assert "\n" not in str(err.value)
    forged = RunSummary(method="protonet", method_factory="evilmod:ProtoNet", **fields)
    with pytest.raises(FsarError, match="was made by evilmod:ProtoNet"):
        method_from_run(forged, 8, extras=False)
    assert "evilmod" not in sys.modules


# --- row 2: two runs of one command corrupt the store ----------------------------------------
def test_row2_three_identical_runs_at_once_leave_one_clean_record_per_episode(
    reference, bench, zygote
):
    copy_tree(reference.root, bench.root, ("data",))
    codes = zygote.run([bench.job(RUN) for _ in range(3)])
    assert codes == [0, 0, 0], bench.log()[-3000:]
    for records in bench.root.glob("runs/*/*/episodes.jsonl"):
        lines = records.read_text().splitlines()
        assert [json.loads(line)["episode"] for line in lines] == list(range(6))
    got, want = snapshot(bench.root, RUN_PARTS), snapshot(reference.root, RUN_PARTS)
    assert not differences(got, want), differences(got, want)
    assert bench.run(REPORT) == 0, bench.log()[-2000:]


def test_row2_a_second_writer_waits_for_the_first(tmp_path):
    """The lock of a run folder: a second holder waits (here: is refused when not waiting)."""
    from fsar_bench.results.store import RunDir

    run = RunDir.at(tmp_path, "d", "m-2w1s", {"a": 1})
    with run.lock(), pytest.raises(FsarError, match="being written by another process"):
        from fsar_bench.files import locked

        with locked(run.path.parent / f".{run.path.name}.lock", wait=False):
            pass


# --- row 3: Ctrl-C exits 0 -------------------------------------------------------------------
def test_row3_ctrl_c_exits_130_with_its_message(monkeypatch, capsys, tmp_path):
    import fsar_bench.engine.run as engine

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "run_benchmark", interrupted)
    args = ["run", *NOWHERE(tmp_path)]
    assert main(args) == 130
    assert "interrupted; run the same command again" in capsys.readouterr().err


# --- row 4: non-finite settings, features, losses, logits ------------------------------------
@pytest.mark.parametrize("value", ["train.lr=inf", "train.weight_decay=inf", "protonet.scale=nan"])
def test_row4_non_finite_settings_are_refused(value, capsys, tmp_path):
    args = ["run", "--methods", "protonet,otam", "--set", value, *NOWHERE(tmp_path)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "must be a finite number" in err, err


def test_row4_otam_lam_inf_is_refused():
    from fsar_bench.engine.overrides import apply
    from fsar_bench.methods import method_config

    with pytest.raises(FsarError, match="finite"):
        apply(method_config("otam"), {"lam": "inf"}, "otam")


def test_row4_nan_features_in_the_cache_are_an_error_not_a_result(reference, bench):
    from fsar_bench.features.shardfile import shard_layout

    copy_tree(reference.root, bench.root, ("data", "cache/features"))
    for shard in bench.root.glob("cache/features/*/*/shard-*.safetensors"):
        layout, data = shard_layout(shard), bytearray(shard.read_bytes())
        for dtype, _, (lo, _end) in layout.tensors.values():
            if dtype == "F16":  # a video's features (not its frame indices): NaN
                start = layout.data_start + lo
                data[start : start + 8] = b"\x00\x7e" * 4
        shard.write_bytes(bytes(data))
    assert bench.run(RUN) == 2
    assert "non-finite features" in bench.last_error()
    assert not list(bench.root.glob("runs/*/protonet-*"))  # row 12: no empty run folder


def test_row4_a_diverging_training_stops_and_keeps_its_last_good_checkpoint(tmp_path):
    import torch
    from toy import trainer

    t = trainer(tmp_path, episodes=12, val_every=4)
    calls = {"n": 0}
    backward = t.backward

    def diverging(ids, views):
        calls["n"] += 1
        return float("nan") if calls["n"] > 5 else backward(ids, views)

    t.backward = diverging
    with pytest.raises(FsarError, match=r"diverged at episode 6: loss nan \(last finite") as err:
        t.fit()
    assert "\n" not in str(err.value)
    from fsar_bench.engine.checkpoint import load_checkpoint

    tensors, meta = load_checkpoint(tmp_path / "ck" / "last.safetensors")
    assert meta["progress"]["step"] == 4  # the checkpoint before the divergence
    assert all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point())


def test_row4_non_finite_logits_fail_the_evaluation(tmp_path):
    import torch
    from toy import manifest, method

    from fsar_bench.engine.evaluate import evaluate

    m = method()
    compare = m.compare

    def broken(*args, **kwargs):
        out = compare(*args, **kwargs)
        out.logits[0, 0] = float("inf")
        return out

    m.compare = broken
    with pytest.raises(FsarError, match="non-finite logits"):
        evaluate(m, manifest(), lambda ids: torch.ones(len(ids), 4, 8), device="cpu")


def test_row4_stored_json_is_strict(tmp_path):
    from fsar_bench.files import write_json

    with pytest.raises(FsarError, match="non-finite"):
        write_json(tmp_path / "summary.json", {"accuracy": {"mean": np.nan}})


# --- row 5: report --out deletes the user's files --------------------------------------------
def test_row5_report_removes_only_the_files_it_wrote(reference, tmp_path, monkeypatch):
    copy_tree(reference.root, tmp_path, ("runs",))
    monkeypatch.chdir(tmp_path)
    user = tmp_path / "paper" / "figures" / "architecture.pdf"
    user.parent.mkdir(parents=True)
    user.write_text("x")
    args = ["report", "--runs", "runs", "--out", "paper", "--figures", "png"]
    assert main(args) == 0
    curves = tmp_path / "paper" / "figures" / "learning_curves_synthetic-mid.png"
    assert curves.is_file()
    shutil.rmtree(_run_dir(tmp_path, "otam"))  # no otam: no class-gain figure any more
    assert main(args) == 0
    assert user.read_text() == "x"  # the user's file stays
    assert not list((tmp_path / "paper" / "figures").glob("class_gain_*"))  # ours went
    assert curves.is_file()


# --- row 6: non-atomic writes leave folders that never recover -------------------------------
SLOW = pytest.mark.slow
TORN = [  # (file, how it is damaged, parts copied before the rerun)
    pytest.param("runs/*/protonet-*/config.json", "half", FINISHED),
    pytest.param("runs/*/protonet-*/summary.json", "half", FINISHED, marks=SLOW),
    pytest.param("runs/*/protonet-*/episodes.jsonl", "half", FINISHED),
    pytest.param("runs/*/manifests/test-*.json", "empty", FINISHED, marks=SLOW),
    pytest.param("cache/checkpoints/*/protonet-*/best.safetensors", "half", TRAINED, marks=SLOW),
    pytest.param("cache/checkpoints/*/protonet-*/best.safetensors", "missing", TRAINED),
    pytest.param("cache/checkpoints/*/protonet-*/last.safetensors", "empty", TRAINED, marks=SLOW),
    pytest.param("cache/features/*/*/meta.json", "half", ("data", "cache/features"), marks=SLOW),
    pytest.param(
        "cache/features/*/*/shard-00000.safetensors", "half", ("data", "cache/features"), marks=SLOW
    ),
    pytest.param("cache/index/*.json", "half", FINISHED, marks=SLOW),
]


@pytest.mark.parametrize(
    "pattern,damage,parts", TORN, ids=[f"{p.values[1]}-{p.values[0]}" for p in TORN]
)
def test_row6_a_torn_file_found_on_a_rerun_is_redone(reference, bench, pattern, damage, parts):
    copy_tree(reference.root, bench.root, parts)
    if pattern.startswith("cache/index"):
        assert bench.run(RUN) == 0  # this folder's own index, then torn
    for path in bench.root.glob(pattern):
        data = path.read_bytes()
        if damage == "missing":
            path.unlink()
        else:
            path.write_bytes(data[: len(data) // 2] if damage == "half" else b"")
    assert bench.run(RUN) == 0, bench.log()[-3000:]
    got, want = snapshot(bench.root, RUN_PARTS), snapshot(reference.root, RUN_PARTS)
    assert not differences(got, want), differences(got, want)


@pytest.mark.slow
def test_row6_a_kill_in_every_phase_of_a_run_resumes_to_the_same_bytes(reference, bench):
    """The issue's measurement: kill -9 at a write in each phase, then one clean rerun."""
    copy_tree(reference.root, bench.root, ("data",))
    for site in ("meta.json", "val-*.json", "last.safetensors", "episodes.jsonl", "summary.json"):
        assert bench.run(RUN, fault=f"kill:{site}") == KILLED, site
    assert bench.run(RUN) == 0, bench.log()[-3000:]
    got, want = snapshot(bench.root, RUN_PARTS), snapshot(reference.root, RUN_PARTS)
    assert not differences(got, want), differences(got, want)


# --- row 9: records beyond the manifest ------------------------------------------------------
def test_row9_records_beyond_the_manifest_are_refused(reference, bench, tmp_path, monkeypatch):
    copy_tree(reference.root, bench.root, FINISHED)
    run = _run_dir(bench.root)
    lines = (run / "episodes.jsonl").read_text().splitlines(keepends=True)
    with open(run / "episodes.jsonl", "a") as fh:
        for i, line in enumerate(lines[:3]):
            fh.write(json.dumps({**json.loads(line), "episode": len(lines) + i}) + "\n")
    monkeypatch.chdir(bench.root)
    assert main([*REPORT[:-2], "--out", "rep"]) == 2  # the report refuses the run
    (run / "summary.json").unlink()
    assert bench.run(RUN) == 2
    assert "holds 9 episode records for a 6-episode manifest" in bench.last_error()
