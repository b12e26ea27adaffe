"""Benchmark: training throughput (episodes/s) of the engine against the old loop and a floor.

Reads a dataset's cached features (extracting them first if missing, as ``fsar-bench run``
does). For each method and shot, three measurements in the same process, interleaved over
``--repeats`` rounds (medians reported), one thread:

1. ``old``: the structure of the former trainer: per episode one draw, one
   ``FeatureStore.get`` call per video (its drawn view), ``method.episodes`` on ``E = 1``,
   backward, and one step of the former optimiser (``torch.optim.Adam``, not fused) per episode
   (the quick preset's ``accumulate=1``).
2. ``new``: the engine's loop body, :meth:`Trainer.train_batch` on ``--batch`` episodes (draw,
   one :class:`~fsar_bench.features.bank.FeatureBank` gather, embed, compare, loss, backward),
   then the optimiser step (fused Adam) and ``zero_grad``.
3. ``floor``: the method's forward and backward alone (``embed``, ``compare``, ``loss``,
   ``backward``) on the same batch shape, from tensors gathered beforehand.

Validation is not timed (it is the evaluation loop's cost). Prints ``new/old`` and
``new/floor`` per method and shot, with the load average before and after.

Usage: ``python benchmarks/bench_train.py --cache-dir /work/cache [--methods protonet,otam]
[--shots 1,5] [--batch 16] [--seconds 6] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fsar_bench.engine.inputs import usable
from fsar_bench.engine.presets import method_settings
from fsar_bench.engine.train import TrainConfig, TrainData, Trainer, draw_training_episode
from fsar_bench.features.bank import FeatureBank
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.methods import METHODS, create_method
from fsar_bench.methods.base import gather_state
from fsar_bench.source import DataSource


def rate(fn: Callable[[], int], seconds: float) -> float:
    """Episodes per second of ``fn`` (returns episodes done per call), timed for ``seconds``."""
    fn()  # warm-up
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        done += fn()
    return done / (time.perf_counter() - t0)


def old_step(method, opt, store, by_class, views: int, rng, way: int, shot: int) -> int:
    """One episode of the former loop (one store read per video, one optimiser step)."""
    pooled = method.input_kind == "pooled"
    sup, sup_lab, qry, qry_lab = draw_training_episode(rng, by_class, way, shot, 1)
    ids = sup + qry
    picks = rng.integers(0, views, len(ids)).tolist()
    x = torch.cat([store.get([v], pooled=pooled, view=w) for v, w in zip(ids, picks)])
    s = len(sup)
    out = method.episodes(x[None, :s], torch.as_tensor(sup_lab)[None], x[None, s:], way)
    method.loss(out, torch.as_tensor(qry_lab)[None]).backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    return 1


def floor_step(method, x: torch.Tensor, trainer: Trainer, n: int) -> int:
    """Forward and backward of ``n`` episodes on preloaded features ``x [n * (S + Q), ...]``."""
    s, q = len(trainer.sup_lab), len(trainer.qry_lab)
    idx = torch.arange(n * (s + q)).view(n, s + q)
    state = method.embed(x)
    out = method.compare(
        gather_state(state, idx[:, :s]),
        trainer.sup_lab.expand(n, s),
        gather_state(state, idx[:, s:]),
        trainer.way,
    )
    method.loss(out, trainer.qry_lab.expand(n, q)).backward()
    method.zero_grad(set_to_none=True)
    return n


def measure(name: str, shot: int, train, banks: dict, index, args) -> dict[str, float]:
    """Median episodes/s of old, new and floor for one method and shot."""
    info = METHODS.get(name)
    pooled = info.input_kind == "pooled"
    mcfg = dataclasses.asdict(method_settings(info, "quick", {}, shot=shot))
    if pooled not in banks:
        banks[pooled] = FeatureBank(train, pooled)
    bank = banks[pooled]
    torch.manual_seed(0)
    models = {k: create_method(info.name, train.meta.channels, **mcfg).train() for k in "onf"}
    cfg = TrainConfig(batch=args.batch, lr=1e-4)
    data = TrainData(
        index=index,
        views=train.meta.views,
        load=bank.load,
        val_manifest=None,
        val_load=None,
        way=5,
        shot=shot,
    )
    unused = Path(tempfile.gettempdir()) / "bench_train"  # nothing is saved: no fit()
    trainer = Trainer(models["n"], cfg, data, out_dir=unused, device="cpu")
    old_opt = torch.optim.Adam(models["o"].parameters(), lr=1e-4)
    rng = np.random.default_rng(1)
    by_class = trainer.by_class
    x = bank.load(*trainer.draw_batch(args.batch))

    def new() -> int:
        trainer.train_batch(args.batch)
        trainer.opt.step()
        trainer.opt.zero_grad(set_to_none=True)
        return args.batch

    runs = {
        "old": lambda: old_step(
            models["o"], old_opt, train, by_class, train.meta.views, rng, 5, shot
        ),
        "new": new,
        "floor": lambda: floor_step(models["f"], x, trainer, args.batch),
    }
    got: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for key, fn in runs.items():
            got[key].append(rate(fn, args.seconds))
    return {k: statistics.median(v) for k, v in got.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--methods", default="protonet,otam,trn,ta2n")
    ap.add_argument("--shots", default="1,5")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    source = DataSource.resolve(args.dataset, cache_dir=args.cache_dir)
    source.ensure_prepared()
    stores = source.features(ExtractConfig(backbone="efficientnet-lite0"))
    index = usable(source.index()["train"], stores["train"])
    print(f"load average before: {os.getloadavg()}; batch E = {args.batch}; one thread")
    print(
        f"{'method':10} {'shot':>4} {'old ep/s':>9} {'new ep/s':>9} {'floor ep/s':>10} "
        f"{'new/old':>8} {'new/floor':>9}"
    )
    banks: dict[bool, FeatureBank] = {}
    for name in args.methods.split(","):
        for shot in (int(s) for s in args.shots.split(",")):
            r = measure(name, shot, stores["train"], banks, index, args)
            print(
                f"{name:10} {shot:>4} {r['old']:9.2f} {r['new']:9.2f} {r['floor']:10.2f} "
                f"{r['new'] / r['old']:8.1f} {r['new'] / r['floor']:9.2f}",
                flush=True,
            )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
