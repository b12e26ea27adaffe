"""Issue 24, rows 7, 8 and 10-12: inputs that gave a wrong result, a hang or a traceback.

Each test reproduces its row's input and asserts a one-line error (exit status 2), a result
that is right, or the end of a walk that hung. Rows 1-6 and 9: ``test_issue_rows.py``.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import threading

import pytest
import torch
from faultkit import REPORT, RUN, copy_tree, differences, snapshot
from safetensors.torch import save_file

from fsar_bench.cli import main
from fsar_bench.errors import FsarError

RUN_PARTS = ("data", "cache/index", "cache/features", "cache/checkpoints", "runs")
FINISHED = ("data", "cache/features", "cache/checkpoints", "runs")


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    return err


# --- row 7: byte-order mark, invisible characters, short training classes --------------------
def test_row7_a_byte_order_mark_makes_no_extra_class(tmp_path):
    from fsar_bench.data.splits import read_split

    path = tmp_path / "trainlist.txt"
    path.write_bytes(b"\xef\xbb\xbftrain0/a\ntrain0/b\ntrain1/c\n")
    assert read_split(path).classes == ("train0", "train1")


@pytest.mark.parametrize("hidden", ["\u200b", "\u00a0", "\u202e", "\ufeff", "\x07"])
def test_row7_an_invisible_character_in_a_class_name_is_refused(tmp_path, hidden):
    from fsar_bench.data.splits import read_split

    path = tmp_path / "trainlist.txt"
    path.write_text(f"train0/a\ntrain{hidden}0/b\n", encoding="utf-8")
    with pytest.raises(FsarError, match=r"trainlist.txt:2: class .* invisible character U\+"):
        read_split(path)


def test_row7_training_classes_need_shot_plus_query_videos(tmp_path):
    from toy import split, trainer

    with pytest.raises(FsarError, match="need 6 videos per class, but 5 train classes"):
        trainer(tmp_path, query=5)  # 1 shot + 5 queries > the 4 videos of each class
    assert split("tr").videos  # the toy split itself is fine


# --- row 8: the safetensors reader of the feature bank ---------------------------------------
def _shard(path, edit=None, header_len=None, cut=0):
    """A valid two-tensor safetensors file, then its header edited / length forged / cut."""
    save_file({"a": torch.ones(2, 3).half(), "b": torch.zeros(4).half()}, str(path))
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    if edit:
        edit(header)
    text = json.dumps(header).encode()
    data = raw[8 + n :]
    path.write_bytes(struct.pack("<Q", header_len or len(text)) + text + data[: len(data) - cut])
    return path


@pytest.mark.parametrize(
    "kwargs,why",
    [
        ({"edit": lambda h: h["a"].update(data_offsets=[-4, 8])}, "outside the data"),
        ({"edit": lambda h: h["b"].update(data_offsets=[4, 12])}, "overlap"),
        ({"edit": lambda h: h["a"].update(data_offsets=[0, 2])}, "holds 2 bytes"),
        ({"edit": lambda h: h["b"].update(data_offsets=[12, 400])}, "outside the data"),
        ({"edit": lambda h: h["a"].update(dtype="Q99")}, "unknown dtype"),
        ({"edit": lambda h: h["a"].update(shape=[-1, 3])}, "invalid shape"),
        ({"header_len": 2**62}, "does not fit"),
        ({"cut": 5}, "outside the data"),
    ],
)
def test_row8_a_forged_or_truncated_shard_is_a_one_line_error(tmp_path, kwargs, why):
    from fsar_bench.features.bank import shard_tensors

    path = _shard(tmp_path / "shard-00000.safetensors", **kwargs)
    with pytest.raises(FsarError, match=why) as err:
        shard_tensors(path, tmp_path)
    assert "\n" not in str(err.value) and f"delete {tmp_path}" in str(err.value)


def test_row8_a_valid_shard_reads_its_own_bytes(tmp_path):
    from fsar_bench.features.bank import shard_tensors

    _, out = shard_tensors(_shard(tmp_path / "s.safetensors"), tmp_path)
    assert out["a"].tolist() == [[1.0] * 3] * 2 and out["b"].tolist() == [0.0] * 4


# --- row 10: symlink loops -------------------------------------------------------------------
def test_row10_a_symlink_loop_under_the_data_root_ends(tmp_path):
    from fsar_bench.data.index import scan

    root = tmp_path / "root"
    (root / "test" / "v1").mkdir(parents=True)
    for name in ("00001.jpg", "00002.jpg"):  # scanning counts frame files by name only
        (root / "test" / "v1" / name).write_bytes(b"")
    os.symlink("..", root / "test" / "loopA")
    os.symlink("..", root / "test" / "loopB")
    found = {}
    walk = threading.Thread(target=lambda: found.update(scan(root)), daemon=True)
    walk.start()
    walk.join(20)
    assert not walk.is_alive(), "the walk did not end"
    assert found["v1"] == [("test/v1", 2)]


# --- row 11: tracebacks instead of one-line errors -------------------------------------------
@pytest.mark.parametrize(
    "extra,message",
    [
        (["--set", "train.seed=-1"], "seed must be in 0..2^32-1"),
        (["--seed", "99999999999999999999999"], "--seed"),
        (["--select", "holdout:\u00b2"], "choose val, last or holdout:K"),
        (["--size", "20000"], "--size"),
    ],
)
def test_row11_bad_options_are_one_line(extra, message, capsys, tmp_path):
    args = ["run", "--methods", "protonet", "--dataset", "ssv2-full", *extra]
    assert main([*args, "--data-root", str(tmp_path / "none"), "--cache-dir", str(tmp_path)]) == 2
    assert message in one_line(capsys)


@pytest.mark.parametrize("garbage", [b"not json", b"{}", b"[1, 2]", b""])
def test_row11_report_over_a_garbage_summary_is_one_line(
    garbage, reference, tmp_path, monkeypatch, capsys
):
    copy_tree(reference.root, tmp_path, ("runs",))
    next(tmp_path.glob("runs/*/otam-*/summary.json")).write_bytes(garbage)
    monkeypatch.chdir(tmp_path)
    assert main(["report", "--runs", "runs", "--out", "rep"]) == 2
    assert "is not a readable run summary" in one_line(capsys)


@pytest.mark.parametrize(
    "pattern,garbage",
    [
        pytest.param("runs/*/protonet-*/summary.json", b'{"accuracy": ', marks=pytest.mark.slow),
        ("runs/*/protonet-*/episodes.jsonl", b"5\n"),  # a record line "5": redone
        pytest.param("cache/index/*.json", b"[]", marks=pytest.mark.slow),
        pytest.param("cache/features/*/*/meta.json", b"garbage", marks=pytest.mark.slow),
    ],
)
def test_row11_garbage_in_a_stored_file_is_redone(reference, bench, pattern, garbage):
    copy_tree(reference.root, bench.root, FINISHED)
    if pattern.startswith("cache/index"):
        assert bench.run(RUN) == 0
    for path in bench.root.glob(pattern):
        keep = path.read_bytes() if path.suffix == ".jsonl" else b""
        path.write_bytes(keep.split(b"\n", 2)[0] + b"\n" + garbage if keep else garbage)
    assert bench.run(RUN) == 0, bench.log()[-3000:]
    got, want = snapshot(bench.root, RUN_PARTS), snapshot(reference.root, RUN_PARTS)
    assert not differences(got, want), differences(got, want)


def test_row11_a_finished_run_writes_nothing(reference, bench):
    """A finished run in a read-only runs folder or cache: nothing is written (config.json was
    rewritten every time), so it needs no write permission."""
    copy_tree(reference.root, bench.root, FINISHED)
    assert bench.run(RUN) == 0

    def state():
        files = [p for p in bench.root.rglob("*") if p.is_file() and p.name != "log.txt"]
        return {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in files}

    before = state()
    assert bench.run(RUN) == 0
    assert state() == before


def test_row11_a_lock_in_a_read_only_folder_is_skipped(tmp_path, monkeypatch):
    from fsar_bench import files

    real = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(".lock"):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(files.os, "open", read_only)
    with files.owned(tmp_path / "run"):  # nothing to write: no error
        pass


def test_row11_environment_values_are_one_line(monkeypatch):
    from fsar_bench.features.bank import pooled_budget
    from fsar_bench.runtime import init_runtime

    monkeypatch.setenv("FSAR_BANK_MB", "abc")
    with pytest.raises(FsarError, match="FSAR_BANK_MB='abc'"):
        pooled_budget()
    for env, message in (
        ({"WORLD_SIZE": "abc"}, "WORLD_SIZE='abc': expected an integer"),
        ({"WORLD_SIZE": "2"}, "WORLD_SIZE=2 without RANK"),
        ({"WORLD_SIZE": "2", "RANK": "0"}, "without MASTER_ADDR, MASTER_PORT"),  # no hang
        ({"WORLD_SIZE": "2", "RANK": "5", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "RANK=5"),
    ):
        for key in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
            monkeypatch.delenv(key, raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(FsarError, match=message):
            init_runtime("cpu")


def test_row11_a_full_disk_is_one_line(reference, bench):
    copy_tree(reference.root, bench.root, ("data", "cache/features"))
    assert bench.run(RUN, fault="enospc:summary.json") == 2
    assert "the disk is full" in bench.last_error()


# --- row 12: small ---------------------------------------------------------------------------
def test_row12_a_missing_weights_file_names_the_option(tmp_path):
    from fsar_bench.features.backbones import resolve_weights

    with pytest.raises(FsarError, match="--weights .*no such file") as err:
        resolve_weights("efficientnet-lite0", tmp_path / "nope.pth")
    assert "reinstall" not in str(err.value)


def test_row12_no_error_suggests_an_option_that_does_not_exist(tmp_path):
    from fsar_bench.data.synthetic import generate, preset

    root = tmp_path / "data"
    root.mkdir()
    (root / "config.json").write_text('{"generator": "another"}')
    with pytest.raises(FsarError) as err:
        generate(root, preset("mid", train_classes=2, val_classes=2, test_classes=2))
    assert "--overwrite" not in str(err.value) and "--data-root" in str(err.value)


def test_row12_only_the_baseline_ran_says_so(reference):
    from fsar_bench.report.console import run_tables
    from fsar_bench.results.summary import load_summaries

    runs = [s for s in load_summaries(reference.root / "runs") if s.method == "protonet"]
    assert run_tables(runs, "protonet").endswith("(no paired comparison: only protonet was run)")


def test_row12_an_int_is_an_int():
    from fsar_bench.engine.overrides import apply
    from fsar_bench.engine.schedule import TrainConfig

    with pytest.raises(FsarError, match="expected an int"):
        apply(TrainConfig(), {"episodes": "1.5"}, "train")


def test_row12_timings_are_summed_over_resumed_processes(reference, bench):
    copy_tree(reference.root, bench.root, FINISHED)
    run = next(bench.root.glob("runs/*/protonet-*"))
    ckpt = next(bench.root.glob("cache/checkpoints/*/protonet-*"))
    (run / "summary.json").unlink()
    (run / "timing.json").write_text('{"eval_seconds": 50.0}')
    (ckpt / "timing.json").write_text('{"train_seconds": 70.0}')
    assert bench.run(RUN) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["eval_seconds"] >= 50 and summary["train_seconds"] >= 70


def test_row12_a_methods_module_that_exits_on_import_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "exits.py").write_text("import sys\nsys.exit(7)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["run", "--methods", "exits:Net", "--dataset", "ssv2-full", "--cache-dir", str(tmp_path)]
    assert main([*args, "--data-root", str(tmp_path / "none")]) == 2
    assert "called sys.exit(7) on import" in one_line(capsys)


def test_row12_a_report_after_a_failed_run_has_no_empty_folder(reference, bench):
    """A run that fails (here: its test features are NaN) leaves no run folder behind."""
    copy_tree(reference.root, bench.root, ("data", "cache/features", "cache/checkpoints"))
    store = next(
        p.parent
        for p in bench.root.glob("cache/features/*/*/settings.json")
        if json.loads(p.read_text())["split"] == "test"
    )
    from fsar_bench.features.shardfile import shard_layout

    for shard in store.glob("shard-*.safetensors"):
        layout, data = shard_layout(shard), bytearray(shard.read_bytes())
        for dtype, _, (lo, _end) in layout.tensors.values():
            if dtype == "F16":
                data[layout.data_start + lo : layout.data_start + lo + 2] = b"\x00\x7e"
        shard.write_bytes(bytes(data))
    assert bench.run(RUN) == 2 and "non-finite" in bench.last_error()
    assert not [p for p in bench.root.glob("runs/*/*") if p.is_dir() and p.name != "manifests"]
    assert bench.run(REPORT) == 2  # nothing finished: a one-line error, not an empty table
