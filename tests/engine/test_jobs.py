"""``--jobs N``: cells in one-thread processes give the bytes of a one-thread sequential run;
one writer per run folder; the default number of jobs."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import fsar_bench
from conftest import TINY_RUN, tiny_synthetic
from fsar_bench.engine.jobs import DEFAULT_JOBS, resolve_jobs
from fsar_bench.runtime import Runtime


def _outputs(runs: Path, cache: Path) -> dict[str, bytes]:
    """Records, configs and selected weights of every run, by path relative to its root."""
    files = [*runs.glob("*/*/episodes.jsonl"), *runs.glob("*/*/config.json")]
    files += list((cache / "checkpoints").glob("*/*/best.safetensors"))
    return {str(p.relative_to(p.parents[2])): p.read_bytes() for p in files}


@pytest.mark.slow
def test_two_jobs_give_the_bytes_of_a_one_thread_sequential_run(tmp_path):
    data = tiny_synthetic(tmp_path / "data")
    a = {"runs_dir": tmp_path / "a" / "runs", "cache_dir": tmp_path / "a" / "cache"}
    b = {"runs_dir": tmp_path / "b" / "runs", "cache_dir": tmp_path / "b" / "cache"}
    opts = TINY_RUN | {"data_root": data, "methods": ["protonet", "otam"], "shots": [1, 2]}
    par = fsar_bench.run(**opts, **a, jobs=2)
    assert {s.jobs for s in par} == {2}
    assert {h["threads"] for s in par for h in s.train_history} == {1}
    # the same cells in this process, one thread, on a copy of the features (no checkpoints)
    shutil.copytree(a["cache_dir"], b["cache_dir"], ignore=shutil.ignore_patterns("checkpoints"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seq = fsar_bench.run(**opts, **b, jobs=1)
    finally:
        torch.set_num_threads(threads)
    assert [s.jobs for s in seq] == [1] * 4
    assert [Path(s.dir).name for s in seq] == [Path(s.dir).name for s in par]  # same run ids
    one, two = _outputs(b["runs_dir"], b["cache_dir"]), _outputs(a["runs_dir"], a["cache_dir"])
    assert len(one) == 12 and one.keys() == two.keys()
    assert {k for k in one if one[k] != two[k]} == set()


def _fake(tmp_path: Path):
    """A context and a cell as :func:`run_locked` reads them."""
    config = {
        "method": "otam",
        "setting": {"dataset": "toy", "way": 5, "shot": 1, "episodes": 10},
    }
    ctx = SimpleNamespace(
        req=SimpleNamespace(runs=tmp_path / "runs", jobs=1),
        source=SimpleNamespace(name="toy", cache=tmp_path / "cache"),
        runtime=SimpleNamespace(is_main=True),
        clips=None,
    )
    cell = SimpleNamespace(name="otam-5w1s", config=config)
    return ctx, cell


def test_the_default_jobs():
    cpu, cuda = Runtime(device=torch.device("cpu")), Runtime(device=torch.device("cuda"))
    assert resolve_jobs(None, cpu) == DEFAULT_JOBS >= 1
    assert resolve_jobs(3, cpu) == 3
    assert resolve_jobs(None, cuda) == 1 and resolve_jobs(2, cuda) == 2
    assert resolve_jobs(4, Runtime(device=torch.device("cpu"), rank=0, world=2)) == 1
    assert resolve_jobs(4, cpu, ["protonet", "otam"]) == 4
