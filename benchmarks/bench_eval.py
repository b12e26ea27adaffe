"""Benchmark: the evaluation users run (``evaluate``, as ``fsar-bench run`` calls it) for OTAM and
ProtoNet, against the public peer structure and against a floor, in one process.

Data: random features ``[V, T, D]`` (float16 -> float32, as from the feature cache; default
``V = 2000`` videos of 100 classes, ``T = 8``, ``D = 2048``) and a manifest of 5-way 1-shot
episodes with 1 query per class drawn by the suite's own episode draw (default 10,000).

Paths, medians of ``--repeats`` interleaved repeats at each thread count of ``--threads``:

1. ``evaluate``: :func:`fsar_bench.engine.evaluate.evaluate` with a records file (embedding,
   scoring, JSONL records with fsync), the features read from memory (a warm cache). OTAM and
   ProtoNet with their default config (identity-initialised ``Linear(D, D)`` adapter) and with
   ``adapter=False``.
2. peer: the structure of the public OTAM code (``OTAM_cum_dist`` in the TRX family, copied into
   HyRSM, MoLo and CLIP-FSAR), written here from the algorithm: per episode, the cosine of all
   query and support frames (``[N*T, D] @ [D, N*T]``), then per direction the padded table filled
   cell by cell in Python, each cell a soft-min over its predecessors vectorised over the
   episode's query-support pairs; both directions summed. For ProtoNet: per episode, temporal
   mean, prototypes and cosine. Timed on ``--peer-episodes`` episodes and scaled to all (the
   per-episode cost does not depend on the episode); its predictions are checked against the
   suite's (``adapter=False``) on those episodes.
3. floor: only the feature gathers and the per-episode similarity products, in chunks of 50:
   OTAM ``[N*T, D] @ [D, N*T]`` of gathered frames, ProtoNet ``[N, D] @ [D, N]`` of gathered
   (precomputed) video means. Nothing else: no adapter, no normalisation, no DTW, no records.
4. floor with the embedding: the method's own ``embed`` (default config: temporal mean for
   ProtoNet, then the adapter) once per video, then the floor's gathers and products on its
   output. This is the least work the default config needs, so the default ``evaluate`` is also
   given as a ratio to it (``default/embed floor``).

Printed: seconds, episodes/s, ``peer/this`` and ``this/floor``, and the 1-minute load average
beside each figure (the machine may be shared: only ratios of one run mean something).

Usage: ``python benchmarks/bench_eval.py [--episodes 10000] [--videos 2000] [--dim 2048]
[--threads 1,2] [--repeats 3] [--peer-episodes 300]``.
"""

from __future__ import annotations

import argparse

from fsar_bench.cpu import tune_cpu

tune_cpu()  # the CLI's process settings; before torch is imported

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from evalbench import episode_rows, evaluate_path, race, synthetic_manifest, table  # noqa: E402

from fsar_bench.methods import create_method  # noqa: E402


@torch.no_grad()
def peer_otam(feats, support, query, lam: float = 0.1) -> torch.Tensor:
    """Per-episode OTAM with the public code's cell loop: predictions ``[E, Q]`` (1-shot)."""
    preds = []
    for s_rows, q_rows in zip(support, query):
        s, q = feats[s_rows], feats[q_rows]  # [N, T, D], [Q, T, D]
        n, t, _ = s.shape
        sim = F.normalize(q.flatten(0, 1), dim=-1) @ F.normalize(s.flatten(0, 1), dim=-1).T
        dist = 1 - sim.view(len(q), t, n, t).transpose(1, 2)  # [Q, N, T(query), T(support)]
        total = cell_loop(dist, lam) + cell_loop(dist.transpose(2, 3), lam)
        preds.append(total.argmin(-1))
    return torch.stack(preds)


def cell_loop(dist: torch.Tensor, lam: float) -> torch.Tensor:
    """``[P..., L, M]`` -> ``[P...]``: padded cumulative table, one Python step per cell.

    Columns 0 and M+1 are zero padding; row 0 only moves right; the first real column and the
    last (padded) one also take the cell above (the public code's variant).
    """
    d = F.pad(dist, (1, 1))
    rows, width = d.shape[-2:]
    cum = torch.zeros_like(d)
    cum[..., 0, :] = d[..., 0, :].cumsum(-1)
    for i in range(1, rows):
        cum[..., i, 0] = d[..., i, 0] + cum[..., i - 1, 0]
        for m in range(1, width):
            prev = [cum[..., i - 1, m - 1], cum[..., i, m - 1]]
            if m in (1, width - 1):
                prev.append(cum[..., i - 1, m])
            soft = -lam * torch.logsumexp(torch.stack(prev, -1) / -lam, -1)
            cum[..., i, m] = d[..., i, m] + soft
    return cum[..., -1, -1]


@torch.no_grad()
def peer_protonet(feats, support, query) -> torch.Tensor:
    """Per-episode temporal mean, prototypes (1-shot: the support video), cosine: ``[E, Q]``."""
    preds = []
    for s_rows, q_rows in zip(support, query):
        s = F.normalize(feats[s_rows].mean(1), dim=-1)
        q = F.normalize(feats[q_rows].mean(1), dim=-1)
        preds.append((q @ s.T).argmax(-1))
    return torch.stack(preds)


@torch.no_grad()
def floor(table_, support, query, chunk: int = 50) -> None:
    """Gathers of ``table_ [V, ...]`` rows and per-episode products ``q @ s^T``, chunk by chunk."""
    for i in range(0, len(support), chunk):
        s, q = table_[support[i : i + chunk]], table_[query[i : i + chunk]]
        if table_.dim() == 3:  # frames: [E, N, T, D] -> [E, N*T, D]
            s, q = s.flatten(1, 2), q.flatten(1, 2)
        torch.bmm(q, s.transpose(1, 2))


@torch.no_grad()
def embed_floor(method, feats, support, query) -> None:
    """The method's ``embed`` of every video once, then :func:`floor` on the embeddings."""
    state = method.embed(feats)
    floor(state["frames" if "frames" in state else "embedding"], support, query)


def bench(name: str, feats, manifest, args) -> None:
    """Race evaluate (default, adapter off), the peer (scaled) and the floor for one method."""
    support, query = rows = episode_rows(manifest)
    n, sub = len(support), min(args.peer_episodes, len(support))
    models = {
        cfg: create_method(name, args.dim, adapter=cfg == "default").eval()
        for cfg in ("default", "adapter off")
    }
    peer_fn = peer_otam if name == "otam" else peer_protonet
    table_ = feats if name == "otam" else feats.mean(1)  # the floor's inputs
    label = f"peer structure (scaled from {sub})"
    paths = {
        f"evaluate, {name} default (adapter)": evaluate_path(models["default"], manifest, feats),
        f"evaluate, {name} adapter off": evaluate_path(models["adapter off"], manifest, feats),
        label: lambda: peer_fn(feats, support[:sub], query[:sub]),
        "floor + embed once (default)": lambda: embed_floor(models["default"], feats, *rows),
        "floor: gathers + products, chunks of 50": lambda: floor(table_, support, query),
    }
    out = race(paths, args.repeats)
    seconds = {k: t.seconds * (n / sub if k == label else 1) for k, t in out.items()}
    print(table(seconds, {k: t.load for k, t in out.items()}, n, label, list(paths)[-1]))
    default = seconds[f"evaluate, {name} default (adapter)"]
    print(f"  default/embed floor: {default / seconds['floor + embed once (default)']:.2f}x")
    agree = (out[f"evaluate, {name} adapter off"].result[:sub] == out[label].result).float()
    print(f"  evaluate (adapter off) vs peer, {sub} episodes: {agree.mean():.4f} agree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10000)
    parser.add_argument("--videos", type=int, default=2000, help="20 per class")
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--methods", default="otam,protonet")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-episodes", type=int, default=300)
    args = parser.parse_args()
    torch.manual_seed(0)
    feats = torch.randn(args.videos, args.frames, args.dim).half().float()
    manifest = synthetic_manifest(args.videos // 20, 20, args.episodes)
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in args.methods.split(","):
            print(
                f"\n{name}: torch {torch.__version__}, {threads} thread(s), V={args.videos}, "
                f"T={args.frames}, D={args.dim}, {args.episodes} episodes 5-way 1-shot 1 query "
                f"per class, median of {args.repeats} interleaved repeats"
            )
            bench(name, feats, manifest, args)


if __name__ == "__main__":
    main()
