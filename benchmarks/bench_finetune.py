"""Benchmark: fine-tuning throughput (frames/s) of the real training step against the same step on
frames already in memory, and against the backbone's own forward and backward.

The model is :class:`~fsar_bench.engine.endtoend.EndToEnd` (``--backbone`` at ``--size`` px in
front of ``--method``, no frame adapter) on a dataset's train split (synthetic-mid in the shared
cache by default). Three measurements in one process, interleaved over ``--repeats`` rounds of
``--seconds`` each (medians reported), on the same batch shape (``--batch`` episodes of
``--way``-way ``--shot``-shot with ``--query`` queries per class, ``--frames`` frames per video):

1. ``real``: the engine's step, :meth:`Trainer.train_step` (draw, clips decoded in
   ``--workers`` DataLoader processes with read-ahead of the next batch, embed, compare, loss,
   backward) then the optimiser step (Adam) and ``zero_grad``.
2. ``memory``: the same step on one batch of clips decoded beforehand (no decoding at all).
3. ``backbone``: the backbone's forward and backward (``features(x).sum().backward()``) on those
   clips, then the optimiser step.

The process settings are those of ``fsar-bench run`` (:func:`fsar_bench.cpu.
tune_cpu`: passive OpenMP waits, so compute threads yield to the decoding workers). Prints
frames/s of each, ``real/memory`` (target >= 0.8: decoding hidden) and ``real/backbone``,
the peak resident memory of this process and of its decoding workers (``getrusage``; on CUDA also
``max_memory_allocated``) and the load average before and after.

Usage: ``python benchmarks/bench_finetune.py --cache-dir /work/cache [--size 112] [--batch 2]
[--workers 1] [--threads 2] [--seconds 20] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fsar_bench.cpu import tune_cpu

tune_cpu()  # the process settings of every fsar-bench command; before torch is imported

import torch  # noqa: E402

from fsar_bench.engine.finetune import Clips, clip_settings  # noqa: E402
from fsar_bench.engine.presets import method_settings, train_config  # noqa: E402
from fsar_bench.engine.train import Trainer  # noqa: E402
from fsar_bench.methods import METHODS  # noqa: E402
from fsar_bench.methods.base import gather_state  # noqa: E402
from fsar_bench.results.summary import Setting  # noqa: E402
from fsar_bench.source import DataSource  # noqa: E402


def rate(fn: Callable[[], None], seconds: float) -> float:
    """Calls per second of ``fn`` over at least ``seconds`` (after one warm-up call)."""
    fn()
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds or done < 2:
        fn()
        done += 1
    return done / (time.perf_counter() - t0)


def build(args: argparse.Namespace, out: Path) -> tuple[Trainer, Clips]:
    source = DataSource.resolve(args.dataset, cache_dir=args.cache_dir)
    source.ensure_prepared()
    indexes = source.index(("train",))
    settings = clip_settings(
        dataset=source.dataset,
        backbone=args.backbone,
        weights=None,
        frames=args.frames,
        size=args.size,
        seed=0,
    )
    clips = Clips(
        source.root,
        {"train": indexes["train"]},
        settings,
        workers=args.workers,
        device=torch.device(args.device),
    )
    info = METHODS.get(args.method)
    mcfg = dataclasses.asdict(method_settings(info, "quick+finetune", {}, shot=args.shot))
    torch.manual_seed(0)
    model = clips.model(info, mcfg)
    cfg = dataclasses.replace(
        train_config(info, "quick+finetune", {}, 0),
        batch=args.batch,
        accumulate=1,
        query=args.query,
        episodes=10**9,
    )
    setting = Setting(
        dataset=source.name,
        way=args.way,
        shot=args.shot,
        query=args.query,
        episodes=1,
        protocol="quick",
        seed=0,
        frames=args.frames,
    )
    data = clips.train_data(indexes["train"], None, setting)
    trainer = Trainer(model, cfg, data, out_dir=out, device=args.device)
    trainer.method.train()
    return trainer, clips


def steps(trainer: Trainer, clips: Clips, batch: int) -> dict[str, Callable[[], None]]:
    """The three timed steps (see the module docstring)."""
    model, opt, dev = trainer.method, trainer.opt, trainer.device
    ids, views = trainer.draw_batch(batch, trainer.rng.spawn(1)[0])
    x = clips.loader.load(ids, views).to(dev)  # [E * (S + Q), T, 3, H, W], decoded once
    s, q = len(trainer.sup_lab), len(trainer.qry_lab)
    idx = torch.arange(batch * (s + q), device=dev).view(batch, s + q)

    def sync() -> None:
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def real() -> None:
        trainer.train_step(batch)
        sync()

    def memory() -> None:
        state = model.embed(x)
        out = model.compare(
            gather_state(state, idx[:, :s]),
            trainer.sup_lab.expand(batch, s),
            gather_state(state, idx[:, s:]),
            trainer.way,
        )
        model.loss(out, trainer.qry_lab.expand(batch, q)).backward()
        sync()

    def backbone() -> None:
        model.features(x).sum().backward()
        sync()

    return {"real": real, "memory": memory, "backbone": backbone}


def peak_memory(device: torch.device) -> str:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    text = f"peak RSS: this process {own:.0f} MiB, largest worker {kids:.0f} MiB"
    if device.type == "cuda":
        text += f"; CUDA max allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB"
    return text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="synthetic-mid")
    p.add_argument("--cache-dir", type=Path, default=None)
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--method", default="protonet")
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=1)
    p.add_argument("--query", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        trainer, clips = build(args, Path(tmp))
        fns = steps(trainer, clips, args.batch)
        rates: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(args.repeats):
            for name, fn in fns.items():
                rates[name].append(rate(fn, args.seconds))
    frames = args.batch * args.way * (args.shot + args.query) * args.frames
    fps = {k: statistics.median(v) * frames for k, v in rates.items()}
    print(
        f"{args.backbone} @ {args.size}px + {args.method}, {args.way}-way {args.shot}-shot, "
        f"{args.query} query, E={args.batch}: {frames} frames per step; device "
        f"{args.device}, {args.threads} threads, {args.workers} decoding workers"
    )
    for name, value in fps.items():
        print(
            f"  {name:9s} {value:8.1f} frames/s  (rounds: "
            f"{', '.join(f'{r * frames:.1f}' for r in rates[name])})"
        )
    print(f"  real/memory   {fps['real'] / fps['memory']:.3f}  (target >= 0.8)")
    print(f"  real/backbone {fps['real'] / fps['backbone']:.3f}")
    print(f"  {peak_memory(torch.device(args.device))}")
    print(f"  load average before {load0}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
