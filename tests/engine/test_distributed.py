"""``torchrun --standalone --nproc-per-node 2`` on CPU (gloo): the results are the same bytes as
one process's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_dataset, tiny_synthetic
from programs.toy import VIEWS, D, H, T, toy_train_data, toy_trainer

# gloo's socket teardown when one rank leaves right after the last collective (now and then on
# a loaded 2-core machine); every program here resumes from what it wrote
TEARDOWN = ("Connection closed by peer", "terminate called without an active exception")


def torchrun(script: Path, *args, nproc: int = 2) -> str:
    """Run ``script`` under ``torchrun --standalone`` with ``nproc`` CPU processes; once more
    (it resumes) when the first attempt died in gloo's teardown (:data:`TEARDOWN`)."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        str(script),
        *map(str, args),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if out.returncode != 0 and any(t in out.stderr for t in TEARDOWN):
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_two_process_extraction_is_byte_identical_and_resumes(tmp_path):
    root = make_dataset(tmp_path / "data", per_split=6)
    script = PROGRAMS / "extract.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # torchrun's default per process
    one = subprocess.run(
        [sys.executable, str(script), root, tmp_path / "one"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    out = torchrun(script, root, tmp_path / "two")
    assert "rank 0 of 2" in out and "rank 1 of 2" in out
    single, double = tmp_path / "one" / "features", tmp_path / "two" / "features"
    assert files(single) == files(double)
    # resume: a lost shard is recomputed (by whichever rank owns it) to the same bytes
    (shard,) = list(double.rglob("shard-00001.safetensors"))[:1]
    for meta in double.rglob("meta.json"):
        if meta.parent == shard.parent:
            meta.unlink()
    shard.unlink()
    torchrun(script, root, tmp_path / "two")
    assert files(single) == files(double)


# --- evaluation and DDP training on toy features ----------------------------------------------
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"  # the torchrun programs


def python(script: Path, *args) -> str:
    """``script`` in one process with torchrun's thread count (``OMP_NUM_THREADS=1``)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_two_process_evaluation_is_byte_identical_and_resumes(tmp_path):
    script = PROGRAMS / "evaluate.py"
    one, two = tmp_path / "one", tmp_path / "two"
    single = python(script, one, one / "extras.safetensors")
    double = torchrun(script, two, two / "extras.safetensors")
    digests = {line.split()[-1] for line in (single + double).splitlines()}
    assert len(digests) == 1  # every rank returns all 45 records, equal to one process's
    assert "rank 0 of 2 45" in double and "rank 1 of 2 45" in double
    records = (one / "episodes.jsonl").read_bytes()
    assert len(records.splitlines()) == 45 and (two / "episodes.jsonl").read_bytes() == records
    assert (two / "extras.safetensors").read_bytes() == (one / "extras.safetensors").read_bytes()
    # interrupted inside a chunk with a torn last line: resumes to the same bytes
    lines = records.splitlines(keepends=True)
    (two / "episodes.jsonl").write_bytes(b"".join(lines[:13]) + b'{"episode": 13, "cor')
    torchrun(script, two)
    assert (two / "episodes.jsonl").read_bytes() == records


@pytest.mark.slow
def test_one_ddp_step_is_the_one_process_step_on_the_union_of_the_ranks_episodes(tmp_path):
    """Oracle: two ranks of 2 episodes each, one SGD step, against the mean loss of the same 4
    episodes scored one at a time in this process, and a hand-made SGD step."""
    import json

    import torch
    from safetensors.torch import load_file

    from fsar_bench.engine.train import draw_training_episode, episode_rng
    from fsar_bench.methods import create_method

    script = PROGRAMS / "ddp_step.py"
    torchrun(script, tmp_path)
    ranks = [load_file(str(tmp_path / f"rank{r}.safetensors")) for r in (0, 1)]
    drawn = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert drawn[0]["ids"] != drawn[1]["ids"]  # each rank draws its own episodes ...
    data = toy_train_data()
    by_class = {c: v for c, v in data.index.by_class().items() if v}
    for rank, got in enumerate(drawn):  # ... from the generator seeded by (seed, rank)
        rng, ids = episode_rng(3, rank, 2), []
        for _ in range(2):
            sup, _, qry, _ = draw_training_episode(rng, by_class, 5, 1, 2)
            ids += sup + qry
            rng.integers(0, VIEWS, len(sup) + len(qry))
        assert ids == got["ids"]
    for k in ranks[0]:  # gradients averaged: the same on both ranks, and so are the weights
        torch.testing.assert_close(ranks[0][k], ranks[1][k], rtol=0, atol=0)
    torch.manual_seed(0)
    method = create_method("otam", D)
    start = {n: p.detach().clone() for n, p in method.named_parameters()}
    sup_lab, qry_lab = torch.arange(5)[None], torch.arange(5).repeat_interleave(2)[None]
    episodes = [
        (got["ids"][i : i + 15], got["views"][i : i + 15]) for got in drawn for i in (0, 15)
    ]
    for ids, views in episodes:
        x = data.load(ids, views)
        out = method.episodes(x[None, :5], sup_lab, x[None, 5:], 5)
        (method.loss(out, qry_lab) / len(episodes)).backward()
    for n, p in method.named_parameters():
        assert float(p.grad.abs().max()) > 1e-3  # a step that moves the weights
        torch.testing.assert_close(ranks[0]["grad/" + n], p.grad, rtol=1e-5, atol=1e-6)
        want = start[n] - 0.5 * p.grad
        torch.testing.assert_close(ranks[0]["param/" + n], want, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_ddp_training_resumes_every_ranks_generator_exactly(tmp_path):
    from fsar_bench.engine.checkpoint import load_checkpoint
    from fsar_bench.errors import FsarError

    script = PROGRAMS / "train.py"
    full, broken = tmp_path / "full", tmp_path / "broken"
    torchrun(script, full, "full")
    out = torchrun(script, broken, "stop")
    assert "rank 0 stopped at 6" in out and "rank 1 stopped at 6" in out
    torchrun(script, broken, "resume")
    history = json.loads((full / "history.json").read_text())
    assert [h["step"] for h in history] == [4, 8, 12]  # episodes of both ranks
    assert json.loads((broken / "history.json").read_text()) == history
    for name in ("best.safetensors", "last.safetensors"):
        assert (broken / name).read_bytes() == (full / name).read_bytes(), name
    tensors, meta = load_checkpoint(full / "last.safetensors")
    assert meta["world"] == 2 and meta["rng"][0] != meta["rng"][1]
    assert {k.split("/")[1] for k in tensors if k.startswith("random/")} == {"0", "1"}
    with pytest.raises(FsarError, match="written by 2 process"):
        toy_trainer(full).fit()  # one process cannot continue a 2-process training


def test_every_built_in_method_uses_the_same_parameters_in_every_step():
    """DDP's static graph (fsar_bench.engine.parallel) needs it: unused parameters are allowed,
    a set of used parameters that changes from step to step is not."""
    import torch

    from fsar_bench.engine.parallel import EpisodeLoss
    from fsar_bench.methods import METHODS, create_method

    configs = {"ta2n": {"reduce_channels": 4}, "trn": {"num_frames": T}}
    for name in METHODS.names():
        torch.manual_seed(0)
        method = create_method(name, D, **configs.get(name, {}))
        spatial = METHODS.get(name).input_kind == "spatial"
        loss, used = EpisodeLoss(method.train()), []
        for _ in range(3):
            x = torch.randn(2 * 10, T, D, *((H, H) if spatial else ()))
            sup, qry = torch.arange(5).expand(2, 5), torch.arange(5).expand(2, 5)
            method.zero_grad(set_to_none=True)
            loss(x, sup, qry, 5).backward()
            used.append({n for n, p in method.named_parameters() if p.grad is not None})
        assert used[0] and used[0] == used[1] == used[2], name


@pytest.mark.slow
def test_two_process_run_writes_each_result_once_from_rank_0(tmp_path):
    data = tmp_path / "data"
    tiny_synthetic(data)
    args = [
        "-m",
        "fsar_bench",
        "run",
        "--methods",
        "protonet,ta2n",
        "--shots",
        "1",
        "--way",
        "3",
        "--episodes",
        "12",
        "--size",
        "64",
        "--data-root",
        data,
        "--device",
        "cpu",
        "--cache-dir",
        tmp_path / "cache",
        "--runs-dir",
        tmp_path / "runs",
        "--set",
        "train.episodes=8",
        "--set",
        "train.batch=2",
        "--set",
        "train.val_every=4",
        "--set",
        "train.val_episodes=6",
        "--set",
        "ta2n.reduce_channels=32",
    ]
    out = torchrun(*args)
    assert out.count("results:") == 1 and out.count("plan: ") == 1  # printed by rank 0 only
    runs = sorted((tmp_path / "runs").glob("*/*/summary.json"))
    assert [p.parent.name.split("-")[0] for p in runs] == ["protonet", "ta2n"]
    for path in runs:
        summary = json.loads(path.read_text())
        assert summary["world_size"] == 2
        assert json.loads((path.parent / "config.json").read_text())["world_size"] == 2
        assert summary["train_episodes"] == 8
        assert [h["step"] for h in summary["train_history"]] == [4, 8]  # 2 ranks x 2 episodes
        records = (path.parent / "episodes.jsonl").read_text().splitlines()
        assert [json.loads(r)["episode"] for r in records] == list(range(12))
    leftovers = [p for p in tmp_path.rglob("*") if p.suffix in (".partial", ".tmp")]
    assert not leftovers
    # a second invocation finds every run finished and changes nothing
    before = files(tmp_path / "runs")
    assert torchrun(*args).count("results:") == 1
    assert files(tmp_path / "runs") == before
