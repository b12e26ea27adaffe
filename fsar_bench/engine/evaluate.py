"""Evaluation of a method on a manifest's episodes, chunk by chunk, resumable.

Per block of episodes (default 1,000), every distinct video is embedded once (``method.embed``);
the block's episodes are then scored ``chunk`` at a time as one batch (``method.compare``).
Each episode gives a record ``{"episode": i, "correct": c, "n_query": q, "pred": [...]}``;
records are appended to a JSONL file after every chunk, so an interrupted evaluation
continues from the last finished chunk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from fsar_bench.episodes.manifest import Manifest
from fsar_bench.methods.base import FewShotMethod, VideoState, gather_state
from fsar_bench.results.store import accuracies, read_records  # noqa: F401 (re-exported)

# (video ids) -> float32 features [V, T, ...] in the method's input kind
FeatureLoader = Callable[[list[str]], torch.Tensor]


def episode_chunks(
    manifest: Manifest, start: int, chunk: int
) -> Iterator[tuple[int, list[list[str]], np.ndarray, list[list[str]], np.ndarray]]:
    """Yield ``(first episode, support ids, support labels, query ids, query labels)`` chunks."""
    sup, sup_lab, qry, qry_lab = manifest.arrays()
    for lo in range(start, len(sup), chunk):
        hi = min(lo + chunk, len(sup))
        yield lo, sup[lo:hi], sup_lab[lo:hi], qry[lo:hi], qry_lab[lo:hi]


@torch.no_grad()
def embed_videos(
    method: FewShotMethod, load: FeatureLoader, ids: list[str], device: torch.device, batch: int
) -> VideoState:
    """States of ``ids`` (leading ``V`` in ``ids`` order), embedded ``batch`` videos at a time."""
    parts = [method.embed(load(ids[i : i + batch]).to(device)) for i in range(0, len(ids), batch)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def score_chunk(
    method: FewShotMethod,
    state: VideoState,
    pos: dict[str, int],
    support: list[list[str]],
    support_labels: np.ndarray,
    query: list[list[str]],
    n_way: int,
) -> torch.Tensor:
    """Logits ``[E, Q, N]`` of a chunk of episodes from the embedded ``state``."""
    device = next(iter(state.values())).device
    sup_idx = torch.tensor([[pos[v] for v in ep] for ep in support], device=device)
    qry_idx = torch.tensor([[pos[v] for v in ep] for ep in query], device=device)
    labels = torch.as_tensor(support_labels, device=device)
    out = method.compare(gather_state(state, sup_idx), labels, gather_state(state, qry_idx), n_way)
    return out.logits.float().cpu()


def evaluate(
    method: FewShotMethod,
    manifest: Manifest,
    load: FeatureLoader,
    records: Path,
    chunk: int = 50,
    block: int = 1000,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    embed_batch: int = 256,
) -> list[dict]:
    """Evaluate every episode of ``manifest``; records stream to (and resume from) ``records``.

    Videos are embedded once per ``block`` episodes; episodes are scored ``chunk`` at a time.
    """
    device = torch.device(device)
    method.eval().to(device)
    done = read_records(records)
    total = len(manifest.episodes)
    records.parent.mkdir(parents=True, exist_ok=True)
    with open(records, "a") as fh:
        for b_lo, b_sup, b_lab, b_qry, b_qlab in episode_chunks(manifest, len(done), block):
            ids = sorted({v for ep in b_sup + b_qry for v in ep})
            state = embed_videos(method, load, ids, device, embed_batch)
            pos = {v: i for i, v in enumerate(ids)}
            for lo in range(0, len(b_sup), chunk):
                sl = slice(lo, lo + chunk)
                logits = score_chunk(
                    method, state, pos, b_sup[sl], b_lab[sl], b_qry[sl], manifest.spec.way
                )
                _write(fh, done, b_lo + lo, logits.argmax(-1).numpy(), b_qlab[sl])
                if progress:
                    progress(len(done), total)
    return done


def _write(fh, done: list[dict], first: int, pred: np.ndarray, labels: np.ndarray) -> None:
    """Append one record per episode and make them durable."""
    for i in range(len(pred)):
        rec = {
            "episode": first + i,
            "correct": int((pred[i] == labels[i]).sum()),
            "n_query": int(len(labels[i])),
            "pred": pred[i].tolist(),
        }
        fh.write(json.dumps(rec) + "\n")
        done.append(rec)
    fh.flush()
    os.fsync(fh.fileno())
