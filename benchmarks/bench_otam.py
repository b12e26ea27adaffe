"""Benchmark: OTAM test-time throughput of the suite's batched path against a per-episode loop.

Random features ``[V, T, D]`` (stored as float16, cast to float32, as from the feature cache) and
5-way 1-shot episodes with one query per class, drawn from ``numpy.random.default_rng(seed)``.
Three measurements in the same process, medians over ``--repeats``:

1. suite: :meth:`OTAM.embed` once on all videos, then :meth:`OTAM.compare` on chunks of episodes
   (``torch.no_grad``, eval mode). Shown with the adapter off (the bare OTAM metric, what the
   loop computes) and with the default config (identity-initialised ``Linear(D, D)`` adapter).
2. loop: the structure of the public code: per episode, a ``[N*T, D] @ [D, N*T]`` cosine matrix,
   then the padded DTW table filled cell by cell in Python with a soft-min over the predecessor
   cells (vectorised over the episode's query-support pairs only); run on ``--loop-episodes``
   episodes and extrapolated per episode. Its logits are checked against the suite's.
3. floor: the same feature gathers and ``[N*T, D] @ [D, N*T]`` similarity products, batched in
   the same chunks as (1), and nothing else.

Usage: ``python benchmarks/bench_otam.py [--episodes 10000] [--videos 2000] [--dim 2048]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from fsar_bench.methods.base import gather_state
from fsar_bench.methods.otam import OTAM, OTAMConfig


def make_episodes(
    n_videos: int, n_episodes: int, n_way: int, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query video indices ``[E, n_way]`` each (label of column ``n`` is ``n``)."""
    rng = np.random.default_rng(seed)
    n_classes = n_videos // per_class
    members = np.arange(n_classes * per_class).reshape(n_classes, per_class)
    classes = np.argsort(rng.random((n_episodes, n_classes)), axis=1)[:, :n_way]  # [E, N]
    picks = np.argsort(rng.random((n_episodes, n_way, per_class)), axis=2)[..., :2]  # [E, N, 2]
    videos = members[classes[..., None], picks]  # [E, N, 2]
    return torch.from_numpy(videos[..., 0]), torch.from_numpy(videos[..., 1])


def suite(model: OTAM, feats, support, query, chunk: int) -> torch.Tensor:
    """Logits ``[E, N, N]`` via embed once + compare on chunks."""
    n_way = support.shape[1]
    labels = torch.arange(n_way).expand(chunk, n_way)
    out = []
    with torch.no_grad():
        state = model.embed(feats)
        for i in range(0, len(support), chunk):
            s, q = support[i : i + chunk], query[i : i + chunk]
            sup, qry = gather_state(state, s), gather_state(state, q)
            out.append(model.compare(sup, labels[: len(s)], qry, n_way).logits)
    return torch.cat(out)


def loop_one_direction(dists: torch.Tensor, lam: float) -> torch.Tensor:
    """Public-code structure: ``[Q, S, T, T]`` -> ``[Q, S]``, one Python step per table cell."""
    d = F.pad(dists, (1, 1))
    rows, width = d.shape[-2:]
    cum = torch.zeros_like(d)
    for m in range(1, width):
        cum[:, :, 0, m] = d[:, :, 0, m] + cum[:, :, 0, m - 1]
    for i in range(1, rows):
        for m in range(1, width):
            preds = [cum[:, :, i - 1, m - 1], cum[:, :, i, m - 1]]
            if m in (1, width - 1):
                preds.append(cum[:, :, i - 1, m])
            soft = -lam * torch.logsumexp(torch.stack(preds, -1) / -lam, -1)
            cum[:, :, i, m] = d[:, :, i, m] + soft
    return cum[:, :, -1, -1]


def loop(feats, support, query, lam: float) -> torch.Tensor:
    """Per-episode implementation: logits ``[E, N, N]``."""
    out = []
    with torch.no_grad():
        for s_idx, q_idx in zip(support, query, strict=True):
            s, q = feats[s_idx], feats[q_idx]  # [N, T, D]
            n, t, _ = s.shape
            sim = F.normalize(q.flatten(0, 1), dim=-1) @ F.normalize(s.flatten(0, 1), dim=-1).T
            dists = (1 - sim).reshape(n, t, n, t).transpose(1, 2)  # [Q, S, T, T]
            both = loop_one_direction(dists, lam) + loop_one_direction(dists.transpose(2, 3), lam)
            out.append(-both)  # 1-shot: the class mean is the single shot
    return torch.stack(out)


def floor(feats, support, query, chunk: int) -> torch.Tensor:
    """Feature gathers and ``[N*T, D] @ [D, N*T]`` products only, in the suite's chunks."""
    last = None
    with torch.no_grad():
        for i in range(0, len(support), chunk):
            s = feats[support[i : i + chunk]].flatten(1, 2)  # [E, N*T, D]
            q = feats[query[i : i + chunk]].flatten(1, 2)
            last = torch.bmm(q, s.transpose(1, 2))
    return last


def race(paths: dict[str, Callable[[], torch.Tensor]], repeats: int) -> dict[str, tuple]:
    """Median wall time of each path and its last result; repeats interleave the paths so that
    a busy machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    results = {}
    for _ in range(repeats):
        for name, fn in paths.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), results[name]) for name in paths}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10000)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--way", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=500, help="episodes per compare call")
    parser.add_argument("--loop-episodes", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(args.seed)
    feats = torch.randn(args.videos, args.frames, args.dim, generator=gen).half().float()
    support, query = make_episodes(args.videos, args.episodes, args.way, 20, args.seed)
    bare = OTAM(args.dim, OTAMConfig(adapter=False)).eval()
    default = OTAM(args.dim, OTAMConfig()).eval()
    n, sub = args.episodes, args.loop_episodes
    out = race(
        {
            "suite (adapter off)": lambda: suite(bare, feats, support, query, args.chunk),
            "suite (default, adapter on)": lambda: suite(
                default, feats, support, query, args.chunk
            ),
            f"loop (extrapolated from {sub})": lambda: loop(feats, support[:sub], query[:sub], 0.1),
            "floor (gathers + bmm)": lambda: floor(feats, support, query, args.chunk),
        },
        args.repeats,
    )
    seconds = {name: t for name, (t, _) in out.items()}
    seconds[f"loop (extrapolated from {sub})"] *= n / sub
    logits, loop_logits = out["suite (adapter off)"][1], out[f"loop (extrapolated from {sub})"][1]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, V={args.videos}, "
        f"T={args.frames}, D={args.dim}, {n} episodes {args.way}-way 1-shot 1 query/class, "
        f"chunk {args.chunk}, median of {args.repeats} interleaved repeats"
    )
    report(seconds, n)
    diff = (logits[:sub] - loop_logits).abs().max().item()
    agree = (logits[:sub].argmax(-1) == loop_logits.argmax(-1)).float().mean().item()
    print(f"suite vs loop on {sub} episodes: max |logit diff| {diff:.2e}, argmax agree {agree:.3f}")


def report(seconds: dict[str, float], n: int) -> None:
    """Print the table: time, episodes/s, speed-up over the loop, slow-down over the floor."""
    loop_s = next(t for name, t in seconds.items() if name.startswith("loop"))
    floor_s = next(t for name, t in seconds.items() if name.startswith("floor"))
    print(f"{'path':<34}{'seconds':>10}{'episodes/s':>12}{'loop/this':>11}{'this/floor':>12}")
    for name, sec in seconds.items():
        print(
            f"{name:<34}{sec:>10.3f}{n / sec:>12.0f}{loop_s / sec:>10.1f}x{sec / floor_s:>11.2f}x"
        )


if __name__ == "__main__":
    main()
