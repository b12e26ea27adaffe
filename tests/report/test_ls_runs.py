"""``fsar-bench ls runs``: finished and unfinished runs, how far each got, without torch."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from fsar_bench.cli import main
from fsar_bench.report.ls_runs import runs_listing
from fsar_bench.results.state import checkpoint_dir, run_states, training_state


def _config(method: str, seed: int = 0, episodes: int = 100) -> dict:
    setting = {"dataset": "toy", "way": 5, "shot": 1, "query": 1, "episodes": episodes}
    setting |= {"protocol": "quick", "seed": 0, "frames": 8, "repeats": 1}
    return {"method": method, "setting": setting, "train_config": {"seed": seed, "lr": 0.001}}


def _run(runs: Path, name: str, config: dict, records: int = 0, summary: dict | None = None):
    folder = runs / "toy" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    if records:
        line = '{"episode": 0, "correct": 1, "n_query": 5, "pred": [0]}\n'
        (folder / "episodes.jsonl").write_text(line * records + '{"episode": 9, "corr')
    if summary is not None:
        (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _checkpoint(folder: Path, step: int, stop: str = "", best: bool = False) -> None:
    """A ``last.safetensors`` with the suite's metadata and no tensor (safetensors layout)."""
    progress = {"step": step, "stop": stop, "history": [{"step": step}]}
    meta = {"__metadata__": {"fsar": json.dumps({"progress": progress})}}
    header = json.dumps(meta).encode()
    folder.mkdir(parents=True)
    (folder / "last.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    if best:
        (folder / "best.safetensors").write_bytes(b"")


def _layout(tmp_path: Path) -> tuple[Path, Path]:
    runs, cache = tmp_path / "runs", tmp_path / "cache"
    done = {"accuracy": {"mean": 41.234, "ci95": 1.5}, "stop_reason": "plateau"}
    _run(runs, "protonet-5w1s-aaa", _config("protonet"), summary=done | {"train_episodes": 9008})
    _run(runs, "protonet-5w1s-bbb", _config("protonet", seed=1), summary=done)
    _run(runs, "otam-5w1s-ccc", _config("otam"), records=40)
    _run(runs, "trn-5w1s-ddd", _config("trn"))
    _checkpoint(checkpoint_dir(cache, _config("trn")), step=3000)
    _run(runs, "ta2n-5w1s-eee", _config("ta2n"))
    _checkpoint(checkpoint_dir(cache, _config("ta2n")), step=2252, stop="plateau", best=True)
    _run(runs, "rvn-5w1s-fff", _config("rvn"))
    return runs, cache


def test_every_run_folder_and_how_far_it_got(tmp_path):
    runs, cache = _layout(tmp_path)
    text = runs_listing(runs, cache, now=1e12)
    rows = {line.split()[1]: line for line in text.splitlines()[2:-1] if "bbb" not in line}
    assert "41.23 +- 1.50" in rows["protonet"] and "plateau at 9,008" in rows["protonet"]
    assert "evaluating 40/100" in rows["otam"]  # the torn last record is not counted
    assert "training: 3,000 episodes" in rows["trn"]
    assert "trained (2,252 episodes), not evaluated" in rows["ta2n"]
    assert "started" in rows["rvn"]
    assert text.splitlines()[-1].startswith("2 finished, 4 unfinished run(s)")
    seeds = [line.split()[3:5] for line in text.splitlines() if " protonet " in line]
    assert sorted(seeds) == [["0", "2"], ["1", "2"]]  # two trainings of one cell
    # without the cache the training is unknown, not guessed
    assert [s.training for s in run_states(runs)] == [None] * 6


def test_a_checkpoint_that_is_not_ours_reads_as_none(tmp_path):
    (tmp_path / "last.safetensors").write_bytes(b"\x00" * 3)
    assert training_state(tmp_path) is None
    assert training_state(tmp_path / "missing") is None


def test_ls_runs_command_imports_no_torch(tmp_path):
    runs, cache = _layout(tmp_path)
    code = (
        "import sys; from fsar_bench.cli import main; rc = main(sys.argv[1:]); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(rc)"
    )
    args = ["ls", "runs", "--runs-dir", str(runs), "--cache-dir", str(cache)]
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "evaluating 40/100" in proc.stdout and "ta2n" in proc.stdout


def test_a_missing_runs_folder_is_one_line(tmp_path, capsys):
    assert main(["ls", "runs", "--runs-dir", str(tmp_path / "nope")]) == 2
    assert "no results folder" in capsys.readouterr().err
