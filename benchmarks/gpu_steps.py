"""The steps of ``gpu_check.py`` (see its docstring): each adds its check lines to ``checks``."""

from __future__ import annotations

import dataclasses
import math
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import torch

from fsar_bench.features.settings import ExtractConfig
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource

METHODS = ("protonet", "otam", "trn", "ta2n")
LITE = ExtractConfig(backbone="efficientnet-lite0", size=112)


def run_cli(argv: list[str], log: Path) -> subprocess.CompletedProcess:
    """A command line with its output appended to ``log``."""
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        return subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env)


def environment(device: str) -> dict:
    """torch, the GPU, bf16; ``error`` when the device asked for is not there."""
    env = {"torch": torch.__version__, "device": device, "cuda": torch.cuda.is_available()}
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return {**env, "error": "CUDA is not available here (use --device cpu)"}
        env |= {
            "gpu": torch.cuda.get_device_name(0),
            "gpus": torch.cuda.device_count(),
            "bf16": torch.cuda.is_bf16_supported(),
            "cuda_version": torch.version.cuda,
        }
    return env


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _reset(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _peak_mb(device: str) -> float:
    """Peak GPU memory allocated since the last reset, or this process's peak RSS (CPU)."""
    if device.startswith("cuda"):
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def make_data(work: Path, videos_per_class: int, checks) -> DataSource:
    """A synthetic-mid dataset with ``videos_per_class`` videos per class, generated once."""
    from fsar_bench.data.synthetic import generate, preset

    root = work / "data"
    start = time.perf_counter()
    if not (root / "COMPLETE").is_file():
        generate(root, preset("mid", videos_per_class=videos_per_class))
    source = DataSource.resolve("synthetic-mid", data_root=root, cache_dir=work / "cache")
    n = sum(len(ix.videos) for ix in source.index().values())
    checks.add("data", n > 0, videos=n, seconds=round(time.perf_counter() - start, 1))
    return source


def _extract(source: DataSource, config: ExtractConfig, device: str, splits) -> tuple:
    """Stores, frames/s and peak memory of one extraction."""
    _reset(device)
    start = time.perf_counter()
    stores = source.features(config, splits, runtime=Runtime(device=torch.device(device)))
    _sync(device)
    seconds = time.perf_counter() - start
    frames = sum(len(s) * max(s.meta.views, 1) * s.meta.frames for s in stores.values())
    return stores, frames / seconds, _peak_mb(device)


def extract_all(source: DataSource, device: str, work: Path, checks) -> None:
    """Lite0 on the device (every split), the test split again on the CPU, compared; ResNet-50
    (random weights) throughput."""
    stores, rate, peak = _extract(source, LITE, device, ("train", "val", "test"))
    checks.add("extract lite0 112px", True, frames_per_s=round(rate, 1), peak_mb=peak)
    cpu = dataclasses.replace(source, cache=work / "cache-cpu")
    ref, _, _ = _extract(cpu, LITE, "cpu", ("test",))
    ids = stores["test"].video_ids
    a, b = stores["test"].get(ids).flatten(1), ref["test"].get(ids).flatten(1)
    cos = torch.nn.functional.cosine_similarity(a, b).min().item()
    rel = ((a - b).norm(dim=1) / b.norm(dim=1)).max().item()
    checks.add("extract vs cpu", cos >= 0.99 and rel <= 0.05, min_cosine=cos, max_rel_err=rel)
    size = 224 if device.startswith("cuda") else 64  # the CPU check: a size it affords
    r50 = ExtractConfig(backbone="resnet50", size=size, random_init=True)
    _, rate, peak = _extract(source, r50, device, ("test",))
    checks.add(f"extract resnet50 {size}px", True, frames_per_s=round(rate, 1), peak_mb=peak)


def _sets(n: int) -> dict:
    return {"train": {"episodes": str(n), "val_every": str(max(1, n // 2)), "val_episodes": "200"}}


def train_all(source: DataSource, args, work: Path, checks) -> list:
    """The four methods, 1-shot, trained briefly and evaluated on the device."""
    from fsar_bench.engine.run import RunRequest, run_benchmark

    req = RunRequest(
        methods=METHODS,
        shots=(1,),
        episodes=args.episodes,
        size=112,
        device=args.device,
        runs=work / "runs",
        sets=_sets(args.train_episodes),
    )
    _reset(args.device)
    start = time.perf_counter()
    summaries = run_benchmark(source, req)
    for s in summaries:
        ok = math.isfinite(s.accuracy["mean"]) and s.train_episodes > 0
        eps = round(s.setting.episodes / max(s.eval_seconds, 1e-3), 1)
        checks.add(
            f"train+test {s.method}",
            ok,
            accuracy=round(s.accuracy["mean"], 2),
            train_s=s.train_seconds,
            test_episodes_per_s=eps,
        )
    wall = round(time.perf_counter() - start, 1)
    checks.add("train+test all", len(summaries) == 4, seconds=wall, peak_mb=_peak_mb(args.device))
    return summaries


def check_records(source: DataSource, summaries: list, device: str, checks) -> None:
    """Each checkpoint evaluated again on the CPU: predictions agree, accuracies close."""
    from fsar_bench.analysis.measures.alignment import method_from_run
    from fsar_bench.engine.evaluate import evaluate
    from fsar_bench.engine.inputs import feature_loader
    from fsar_bench.episodes.manifest import load_manifest
    from fsar_bench.features.cache import FeatureStore
    from fsar_bench.results.store import accuracies, read_records

    for s in summaries:
        store = FeatureStore.open(source.cache, source.name, s.features["test"])
        method = method_from_run(s, store.meta.channels, extras=False)
        pooled = method.input_kind == "pooled"
        manifest = load_manifest(Path(s.manifest_file))
        cpu = evaluate(method, manifest, feature_loader(store, pooled), device="cpu").records
        dev = read_records(Path(s.dir) / "episodes.jsonl")
        agree = sum(a["pred"] == b["pred"] for a, b in zip(cpu, dev)) / max(len(dev), 1)
        diff = abs(accuracies(cpu).mean() - accuracies(dev).mean())
        ok = len(cpu) == len(dev) and agree >= 0.99 and diff <= 0.5
        checks.add(f"records {s.method} {device} vs cpu", ok, agree=agree, acc_diff=float(diff))


def _finetune_step(source: DataSource, device: str, checkpointing: bool, work: Path) -> tuple:
    """One ``--finetune`` optimiser step of ProtoNet on Lite0 at 112 px: seconds, peak, loss."""
    from fsar_bench.engine.finetune import Clips
    from fsar_bench.engine.request import RunRequest, check_request
    from fsar_bench.engine.train import Trainer
    from fsar_bench.results.summary import Setting

    req = RunRequest(methods=("protonet",), shots=(1,), size=112, device=device, finetune=True)
    res = check_request(req)[("protonet", 1)]
    indexes = source.index()
    clips = Clips.of(source, indexes, req, torch.device(device))
    model = clips.model(res.info, dataclasses.asdict(res.method_config))
    model.checkpointing = checkpointing
    setting = Setting(
        dataset=source.name, way=5, shot=1, query=1, episodes=1, protocol="quick", seed=0, frames=8
    )
    train = dataclasses.replace(res.train, batch=4)
    data = clips.train_data(indexes["train"], None, setting)
    runtime = Runtime(device=torch.device(device))
    trainer = Trainer(model, train, data, out_dir=work / f"ft-{checkpointing}", runtime=runtime)
    _reset(device)
    start = time.perf_counter()
    loss = trainer.train_step(train.batch)
    trainer.opt.step()
    _sync(device)
    return time.perf_counter() - start, _peak_mb(device), loss


def check_finetune(source: DataSource, device: str, checks) -> None:
    """One fine-tuning step without and with activation checkpointing."""
    work = source.cache.parent
    plain = _finetune_step(source, device, False, work)
    ckpt = _finetune_step(source, device, True, work)
    saves = ckpt[1] < plain[1] if device.startswith("cuda") else True  # CPU: RSS only grows
    checks.add(
        "finetune step (activation checkpointing)",
        all(math.isfinite(x[2]) for x in (plain, ckpt)) and saves,
        seconds=round(ckpt[0], 2),
        peak_mb=ckpt[1],
        without_seconds=round(plain[0], 2),
        without_peak_mb=plain[1],
    )


def check_torchrun(source: DataSource, args, work: Path, summaries: list, checks) -> None:
    """``torchrun`` of ProtoNet and OTAM: the records equal the one-process run's (one GPU), or
    the run completes with every rank (several GPUs, CPU with gloo: DDP trains anew)."""
    from fsar_bench.results.store import read_records
    from fsar_bench.results.summary import load_summaries

    cuda = args.device.startswith("cuda")
    n = torch.cuda.device_count() if cuda else 2
    runs = work / "runs-torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    cmd += [str(n), "-m", "fsar_bench", "run", "--methods", "protonet,otam", "--shots", "1"]
    cmd += ["--episodes", str(args.episodes), "--size", "112", "--device", args.device]
    cmd += ["--data-root", str(source.root), "--cache-dir", str(source.cache)]
    cmd += ["--runs-dir", str(runs), "--quiet"]
    for key, value in _sets(args.train_episodes)["train"].items():
        cmd += ["--set", f"train.{key}={value}"]
    start = time.perf_counter()
    proc = run_cli(cmd, work / "torchrun.log")
    seconds = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        checks.add("torchrun", False, exit=proc.returncode, log=str(work / "torchrun.log"))
        return
    mine = {s.method: s for s in summaries}
    for s in load_summaries(runs):
        if n == 1:
            a = read_records(Path(s.dir) / "episodes.jsonl")
            b = read_records(Path(mine[s.method].dir) / "episodes.jsonl")
            agree = sum(x["pred"] == y["pred"] for x, y in zip(a, b)) / max(len(b), 1)
            ok = len(a) == len(b) and agree >= 0.999
            checks.add(f"torchrun x1 {s.method}", ok, agree=agree, seconds=seconds)
        else:
            close = abs(s.accuracy["mean"] - mine[s.method].accuracy["mean"])
            ok = s.world_size == n and close <= 3 * (s.accuracy["ci95"] + 1)
            checks.add(f"torchrun x{n} {s.method}", ok, world=s.world_size, acc_diff=close)


def check_nccl(checks) -> None:
    """A one-rank NCCL process group: all-gather and broadcast on the GPU."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dist = torch.distributed
    dist.init_process_group("nccl", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
    try:
        x = torch.arange(8, device="cuda", dtype=torch.float32)
        out = [torch.zeros_like(x)]
        dist.all_gather(out, x)
        box = [{"ok": 1}]
        dist.broadcast_object_list(box, src=0)
        ok = torch.equal(out[0], x) and box[0] == {"ok": 1}
    finally:
        dist.destroy_process_group()
    checks.add("nccl one rank", ok, backend="nccl")
