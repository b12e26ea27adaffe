"""The evaluation loop: each video embedded once, memory-bound blocks, batching that does not
change records, few fsyncs, and exact resume after ``kill -9``."""

import gc
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import toy_index
from fsar_bench.engine.evaluate import evaluate, plan
from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest, parse_manifest, write_manifest
from fsar_bench.methods import create_method
from fsar_bench.methods.base import Lazy, gather_state

T, D, H = 4, 8, 2
CONFIGS = {"ta2n": {"reduce_channels": 4}, "trn": {"num_frames": T}}


def manifest_bytes(episodes: int = 60, shot: int = 1, query: int = 1) -> bytes:
    index = toy_index(n_classes=7, per_class=8, frames=T, grow=False)
    spec = EpisodeSpec(dataset="toy", shot=shot, query=query, episodes=episodes, frames=T)
    return build_manifest(index, spec)


def toy_manifest(episodes: int = 60, shot: int = 1, query: int = 1):
    return parse_manifest(manifest_bytes(episodes, shot, query))


def toy_features(manifest, spatial: bool) -> dict[str, torch.Tensor]:
    """Per video: class centre + noise, ``[T, D]`` or ``[T, D, H, H]``."""
    g = torch.Generator().manual_seed(0)
    shape = (T, D, H, H) if spatial else (T, D)
    centres = {}
    out = {}
    for vid, info in sorted(manifest.videos.items()):
        if info["class"] not in centres:
            centres[info["class"]] = torch.randn(shape, generator=g)
        out[vid] = centres[info["class"]] + torch.randn(shape, generator=g)
    return out


def loader(feats, calls=None):
    def load(ids):
        if calls is not None:
            calls.extend(ids)
        return torch.stack([feats[v] for v in ids])

    return load


def make(name: str):
    torch.manual_seed(0)
    return create_method(name, D, **CONFIGS.get(name, {}))


def test_plan_blocks_fit_the_memory_bound_and_chunks_follow_chunk_bytes():
    eps = [[f"v{(7 * i + j) % 40}" for j in range(10)] for i in range(50)]
    one = plan(eps, 100, state_bytes=40 * 100)
    assert one.blocks == [(0, 50)]
    many = plan(eps, 100, state_bytes=15 * 100, chunk_bytes=3 * 10 * 100)
    assert many.chunk == 3 and len(many.blocks) > 1
    assert many.blocks[0][0] == 0 and many.blocks[-1][1] == 50
    assert all(a[1] == b[0] for a, b in zip(many.blocks, many.blocks[1:]))
    for lo, hi in many.blocks:
        assert len({v for ep in eps[lo:hi] for v in ep}) <= 15
    assert plan(eps, 100, block=20).blocks == [(0, 20), (20, 40), (40, 50)]
    assert plan(eps, 100, chunk=4).chunk == 4
    # the bound is inclusive (``one`` above): one byte less than 40 videos' states splits them
    assert len(plan(eps, 100, state_bytes=40 * 100 - 1).blocks) > 1


def test_every_video_is_embedded_once_and_blocks_reembed_only_when_states_do_not_fit():
    manifest = toy_manifest()
    feats = toy_features(manifest, spatial=False)
    calls: list[str] = []
    full = evaluate(make("otam"), manifest, loader(feats, calls), device="cpu").records
    n_videos = len(manifest.videos)
    assert len(calls) == n_videos + 1  # + the one video embedded to measure a state
    assert sorted(set(calls)) == sorted(manifest.videos)
    calls.clear()
    video_bytes = T * D * 4  # OTAM's state: the normalised frames
    small = evaluate(
        make("otam"), manifest, loader(feats, calls), device="cpu", state_bytes=12 * video_bytes
    ).records
    assert small == full
    assert len(calls) > n_videos + 1


@pytest.mark.parametrize("name", ["protonet", "otam", "trn", "ita", "rvn", "ta2n"])
@pytest.mark.parametrize("shot", [1, 3])
def test_records_do_not_depend_on_chunks_or_blocks(name, shot):
    manifest = toy_manifest(episodes=24, shot=shot, query=2)
    method = make(name)
    feats = toy_features(manifest, spatial=method.input_kind == "spatial")
    load = loader(feats)
    auto = evaluate(method, manifest, load, device="cpu", keep_extras=True, workers=1)
    assert len(auto.records) == 24
    batching = (
        {"chunk": 1},
        {"chunk": 5, "block": 7},
        {"state_bytes": 1, "chunk": 2},
        {"workers": 2, "chunk": 3, "embed_batch": 5},
    )
    for kwargs in batching:
        other = evaluate(method, manifest, load, device="cpu", keep_extras=True, **kwargs)
        assert other.records == auto.records, kwargs
        for key, value in auto.extras.items():
            torch.testing.assert_close(other.extras[key], value, msg=key)


def test_the_garbage_collector_is_paused_during_evaluation_and_restored():
    manifest = toy_manifest()
    feats = toy_features(manifest, spatial=False)
    method, seen = make("protonet"), []
    compare = method.compare
    method.compare = lambda *a: (seen.append(gc.isenabled()), compare(*a))[1]
    assert gc.isenabled()
    evaluate(method, manifest, loader(feats), device="cpu", chunk=20)
    assert seen == [False] * 3 and gc.isenabled()
    gc.disable()  # a caller that paused it keeps it paused
    try:
        evaluate(method, manifest, loader(feats), device="cpu")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_records_are_synced_once_not_per_chunk(tmp_path, monkeypatch):
    synced = []  # the files fsynced (the evaluation's timing.json is written atomically too)
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))
    manifest = toy_manifest()
    feats = toy_features(manifest, spatial=False)
    path = tmp_path / "r.jsonl"
    evaluate(make("protonet"), manifest, loader(feats), device="cpu", records=path, chunk=5)
    records = evaluate(make("protonet"), manifest, loader(feats), device="cpu").records
    assert synced.count(str(path)) == 1 and len(records) == 60
    assert path.read_text() == "".join(json.dumps(r) + "\n" for r in records)


def test_resume_from_inside_a_chunk_recomputes_it_and_writes_only_what_is_missing(tmp_path):
    manifest = toy_manifest()
    load = loader(toy_features(manifest, spatial=True))
    full = tmp_path / "full.jsonl"
    evaluate(make("ta2n"), manifest, load, device="cpu", records=full, chunk=7)
    lines = full.read_bytes().splitlines(keepends=True)
    part = tmp_path / "part.jsonl"
    part.write_bytes(b"".join(lines[:16]) + b'{"episode": 16, "cor')  # 16 is inside chunk 2
    again = evaluate(make("ta2n"), manifest, load, device="cpu", records=part, chunk=7)
    assert part.read_bytes() == full.read_bytes()
    assert [r["episode"] for r in again.records] == list(range(60))


KILLED = """
import sys, time, torch
from pathlib import Path
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.episodes.manifest import load_manifest
from fsar_bench.methods import create_method
from fsar_bench.methods.base import Lazy, gather_state
folder = Path(sys.argv[1])
feats = torch.load(folder / "feats.pt")
torch.manual_seed(0)
method = create_method("otam", {d})
slow = lambda done, total: time.sleep(60) if done >= 21 else None
evaluate(method, load_manifest(folder / "manifest.json"),
         lambda ids: torch.stack([feats[v] for v in ids]), device="cpu",
         records=Path(sys.argv[2]), chunk=7, progress=slow if sys.argv[3] == "slow" else None)
"""


@pytest.mark.slow
def test_evaluation_killed_with_sigkill_resumes_to_the_same_bytes(tmp_path):
    write_manifest(manifest_bytes(), tmp_path / "manifest.json")
    torch.save(toy_features(toy_manifest(), spatial=False), tmp_path / "feats.pt")
    code = KILLED.format(d=D)
    full, part = tmp_path / "full.jsonl", tmp_path / "part.jsonl"

    def run(path, mode):
        return subprocess.Popen([sys.executable, "-c", code, str(tmp_path), str(path), mode])

    assert run(full, "fast").wait() == 0
    proc = run(part, "slow")
    try:
        deadline = time.monotonic() + 120
        while not part.exists() or len(part.read_bytes().splitlines()) < 21:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        assert proc.wait() == -signal.SIGKILL
    assert len(part.read_bytes().splitlines()) == 21  # three chunks of 7, then killed
    with open(part, "ab") as fh:
        fh.write(b'{"episode": 21, "corr')  # a torn write, as a kill mid-write leaves
    assert run(part, "fast").wait() == 0
    assert part.read_bytes() == full.read_bytes()


def test_workers_keep_order_and_restore_the_thread_count():
    from fsar_bench.engine.parallel import Workers

    before = torch.get_num_threads()
    with Workers(2) as pool:
        assert torch.get_num_threads() == 1
        got = list(pool.ordered(lambda i: (i, torch.is_grad_enabled()), range(20)))
    assert got == [(i, (i, False)) for i in range(20)]
    assert torch.get_num_threads() == before


def test_lazy_state_gathers_only_what_is_read():
    state = {"a": torch.arange(6.0), "b": torch.arange(6.0) * 10}
    calls = []
    index = torch.tensor([[1, 2]])
    lazy = Lazy({k: (lambda k=k: calls.append(k) or state[k][index]) for k in state})
    assert "b" in lazy and len(lazy) == 2 and list(lazy) == ["a", "b"] and calls == []
    assert lazy["b"].tolist() == [[10.0, 20.0]] and lazy["b"] is lazy["b"] and calls == ["b"]
    eager, late = gather_state(state, index), gather_state(state, index, lazy=True)
    assert all(torch.equal(eager[k], late[k]) for k in state) and set(late) == set(eager)


@pytest.mark.parametrize("shuffle", [False, True])
def test_protonet_normalises_once_per_video_with_the_same_numbers(shuffle):
    torch.manual_seed(0)
    method = create_method("protonet", 16).eval()
    state = method.embed(torch.randn(30, T, 16))
    assert "unit" in state
    plain = {"embedding": state["embedding"]}
    sup, qry = torch.randint(0, 30, (7, 5)), torch.randint(0, 30, (7, 10))
    labels = torch.stack([torch.randperm(5) if shuffle else torch.arange(5) for _ in range(7)])
    fast = method.compare(
        gather_state(state, sup, lazy=True), labels, gather_state(state, qry, lazy=True), 5
    )
    slow = method.compare(gather_state(plain, sup), labels, gather_state(plain, qry), 5)
    assert torch.equal(fast.logits, slow.logits)
    assert set(fast.extras) == set(slow.extras)
    for key in slow.extras:
        assert torch.equal(fast.extras[key], slow.extras[key]), key
