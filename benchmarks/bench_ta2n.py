"""Throughput of TA2N on random features: the evaluation users run against the official code's
per-episode forward, training steps, decomposed vs naive SC.

Evaluation vs per-episode forward (``--protocol-episodes``, default 300): a manifest of 5-way
1-shot episodes (1 query per class) over ``episodes / 5`` videos, so that every video is in about
50 episodes as in a 10,000-episode protocol over 2,000 test videos. Timed in one process:

* ``evaluate``: :func:`fsar_bench.engine.evaluate.evaluate` with a records file (every video
  embedded once, episodes scored in chunks), as ``fsar-bench run`` evaluates;
* per-episode forward, the official code's structure (``run/run_ta2n.py`` embeds the episode's
  videos and compares its pairs, one episode at a time): the suite's TA2N (which matches the
  official module numerically) called on one episode at a time (``method.episodes``) on the first
  ``--per-episode`` episodes of the same manifest, scaled to all (its cost per episode does not
  depend on the episode); its predictions are checked against ``evaluate``'s.

Then, on a batch of fresh videos: ``embed`` and ``compare`` per video / per episode (shots=None
and shots=K), training (forward, loss, backward, official shape: 5 queries per class) and the SC
speed-up of ``sc_impl="decomposed"`` over ``"naive"``. All figures are medians; the load average
is printed beside each.

``--profile-train SHOT``: instead, the CPU profile of one training step of the quick preset's
TA2N (its method and ``train.batch`` settings as ``fsar-bench run`` resolves them), operators
grouped by input shape: where a training episode's time goes.

Example::

    python benchmarks/bench_ta2n.py                       # C=1280, 4x4, T=8 (EfficientNet-Lite0)
    python benchmarks/bench_ta2n.py --channels 2048 --size 7 --episodes 4   # ResNet-50 maps
    python benchmarks/bench_ta2n.py --threads 1 --profile-train 1   # the quick preset's step
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

from fsar_bench.cpu import tune_cpu

tune_cpu()  # the CLI's process settings; before torch is imported

import torch  # noqa: E402
from evalbench import episode_rows, evaluate_path, race, synthetic_manifest  # noqa: E402

from fsar_bench.methods import create_method  # noqa: E402
from fsar_bench.methods.base import gather_state  # noqa: E402


def make_batch(e: int, way: int, shot: int, query: int, shape: tuple[int, ...], seed: int):
    """Random episodes: support ``[E, way*shot, T, C, H, W]``, labels ``[E, S]``, query."""
    g = torch.Generator().manual_seed(seed)
    support = torch.randn(e, way * shot, *shape, generator=g)
    labels = torch.arange(way).repeat_interleave(shot)[None].expand(e, -1)
    queries = torch.randn(e, way * query, *shape, generator=g)
    return support, labels, queries


def clock(x: torch.Tensor) -> float:
    """``time.perf_counter()`` after the device of ``x`` has finished its queued work."""
    if x.is_cuda:
        torch.cuda.synchronize(x.device)
    return time.perf_counter()


def eval_once(model, support, labels, queries, way) -> tuple[float, float]:
    """Seconds for ``embed`` of all videos and for ``compare`` of the batch."""
    e, s = labels.shape
    videos = torch.cat([support.flatten(0, 1), queries.flatten(0, 1)])
    start = clock(videos)
    state = model.embed(videos)
    mid = clock(videos)
    idx = torch.arange(len(videos))
    sup_state = gather_state(state, idx[: e * s].reshape(e, s))
    qry_state = gather_state(state, idx[e * s :].reshape(e, -1))
    model.compare(sup_state, labels, qry_state, way)
    return mid - start, clock(videos) - mid


def bench_eval(model, batch, way: int, repeats: int) -> tuple[float, float]:
    """Median embed and compare seconds over ``repeats`` (after one warm-up)."""
    model.eval()
    times = []
    with torch.no_grad():
        for i in range(repeats + 1):
            t = eval_once(model, *batch, way)
            if i:
                times.append(t)
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def bench_train(model, batch, way: int, repeats: int, e: int = 1) -> float:
    """Median seconds of one training step of ``e`` episodes (forward, loss, backward)."""
    model.train()
    support, labels, queries = batch
    q_labels = torch.arange(way).repeat_interleave(queries.shape[1] // way)[None].expand(e, -1)
    times = []
    for i in range(repeats + 1):
        start = clock(support)
        out = model.episodes(support[:e], labels[:e], queries[:e], way)
        model.loss(out, q_labels.to(support.device)).backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(clock(support) - start)
    return statistics.median(times)


def report_eval(name: str, model, batch, way: int, repeats: int) -> float:
    """Print and return the median seconds per episode of embed + compare."""
    e = batch[1].shape[0]
    n_videos = batch[0].shape[0] * (batch[0].shape[1] + batch[2].shape[1])
    embed, compare = bench_eval(model, batch, way, repeats)
    per_episode = (embed + compare) / e
    print(
        f"{name:<28} embed {1e3 * embed / n_videos:7.2f} ms/video | compare "
        f"{1e3 * compare / e:7.2f} ms/episode | {1 / per_episode:7.2f} episodes/s"
    )
    return per_episode


def compare_sc(models: dict, batch, way: int, repeats: int) -> dict[str, float]:
    """Median seconds per episode (embed + compare) of each model, repeats interleaved.

    Interleaving (A, B, A, B, ...) exposes every model to the same machine load.
    """
    times: dict[str, list[float]] = {name: [] for name in models}
    e = batch[1].shape[0]
    with torch.no_grad():
        for i in range(repeats + 1):
            for name, model in models.items():
                model.eval()
                t = sum(eval_once(model, *batch, way)) / e
                if i:
                    times[name].append(t)
    return {name: statistics.median(t) for name, t in times.items()}


@torch.no_grad()
def per_episode(model, feats, support, query, way: int) -> torch.Tensor:
    """The official structure: embed each episode's videos, compare its pairs; ``[E, Q]``."""
    labels = torch.arange(way)[None]
    preds = [
        model.episodes(feats[s][None], labels, feats[q][None], way).logits[0].argmax(-1)
        for s, q in zip(support, query)
    ]
    return torch.stack(preds)


def bench_protocol(args, build) -> None:
    """``evaluate`` against the per-episode forward on the same manifest; prints the ratio."""
    n, sub = args.protocol_episodes, min(args.per_episode, args.protocol_episodes)
    manifest = synthetic_manifest(max(args.way, n // 50), 10, n)
    g = torch.Generator().manual_seed(0)
    shape = (args.frames, args.channels, args.size, args.size)
    feats = torch.randn(len(manifest.videos), *shape, generator=g).half().float()
    support, query = episode_rows(manifest)
    model = build(shots=1).eval()
    label = f"per-episode forward (scaled from {sub})"
    out = race(
        {
            "evaluate (records file)": evaluate_path(model, manifest, feats),
            label: lambda: per_episode(model, feats, support[:sub], query[:sub], args.way),
        },
        args.repeats,
    )
    fast, slow = out["evaluate (records file)"], out[label]
    per_ep = slow.seconds / sub
    print(
        f"{n} episodes over {len(manifest.videos)} videos, shots=1, "
        f"{torch.get_num_threads()} thread(s)"
    )
    print(f"  {'evaluate':<38}{n / fast.seconds:8.2f} episodes/s  (load {fast.load:.1f})")
    print(f"  {label:<38}{1 / per_ep:8.2f} episodes/s  (load {slow.load:.1f})")
    print(f"  evaluate / per-episode: {per_ep * n / fast.seconds:.1f}x")
    agree = (fast.result[:sub] == slow.result).float().mean()
    print(f"  predictions agree on {sub} episodes: {agree:.4f}")


def profile_train(args, shot: int, shape: tuple[int, ...]) -> None:
    """Print the profile of the quick preset's training step (``batch`` episodes of ``shot``)."""
    from torch.profiler import profile

    from fsar_bench.engine.presets import method_settings, train_config
    from fsar_bench.methods.registry import METHODS

    info = METHODS.get("ta2n")
    cfg = method_settings(info, "quick", {}, shot)
    batch = train_config(info, "quick", {}, 0).batch
    torch.manual_seed(0)
    model = create_method("ta2n", args.channels, **dataclasses.asdict(cfg))
    episodes = make_batch(batch, args.way, shot, 1, shape, seed=shot)
    step = bench_train(model, episodes, args.way, args.repeats, batch) / batch
    print(f"train {args.way}w{shot}s quick preset, batch {batch}: {1e3 * step:.1f} ms/episode")
    with profile(record_shapes=True) as prof:
        bench_train(model, episodes, args.way, 1, batch)
    table = prof.key_averages(group_by_input_shape=True)
    print(table.table(sort_by="self_cpu_time_total", row_limit=12, max_shapes_column_width=90))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--channels", type=int, default=1280)
    parser.add_argument("--size", type=int, default=4, help="H = W of the feature maps")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--way", type=int, default=5)
    parser.add_argument("--episodes", type=int, default=16, help="episodes per eval batch")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-naive", action="store_true", help="skip the naive SC timing")
    parser.add_argument("--protocol-episodes", type=int, default=300)
    parser.add_argument("--per-episode", type=int, default=5, help="episodes timed one by one")
    parser.add_argument("--only-protocol", action="store_true")
    parser.add_argument("--profile-train", type=int, metavar="SHOT", help="profile a step only")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    dev, way = torch.device(args.device), args.way
    shape = (args.frames, args.channels, args.size, args.size)
    print(
        f"TA2N bench: C={args.channels} H=W={args.size} T={args.frames} {way}-way, "
        f"{args.episodes} episodes/batch, {args.repeats} repeats, threads={args.threads}, "
        f"device={args.device}, torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )

    def build(**cfg):
        torch.manual_seed(0)
        return create_method("ta2n", args.channels, **cfg).to(dev)

    def batch(shot, query, e=args.episodes):
        return tuple(x.to(dev) for x in make_batch(e, way, shot, query, shape, seed=shot))

    if args.profile_train:
        return profile_train(args, args.profile_train, shape)
    if args.protocol_episodes:
        bench_protocol(args, build)
    if args.only_protocol:
        return
    model = build()
    for shot in (1, 5):
        report_eval(f"eval {way}w{shot}s (shots=None)", model, batch(shot, 1), way, args.repeats)
        tuned = build(shots=shot)
        report_eval(f"eval {way}w{shot}s (shots={shot})", tuned, batch(shot, 1), way, args.repeats)
    for shot in (1, 5):
        step = bench_train(build(shots=shot), batch(shot, 5, e=1), way, args.repeats)
        print(f"train {way}w{shot}s (shots={shot}), 5 queries/class: {1e3 * step:8.1f} ms/episode")
    if not args.skip_naive:
        models = {"decomposed": build(shots=1), "naive": build(shots=1, sc_impl="naive")}
        med = compare_sc(models, batch(1, 1), way, args.repeats)
        fast, slow = med["decomposed"], med["naive"]
        print(
            f"SC {way}w1s eval (embed + compare): decomposed {1e3 * fast:.1f} ms/episode, "
            f"naive {1e3 * slow:.1f} ms/episode, speed-up {slow / fast:.2f}x"
        )


if __name__ == "__main__":
    main()
