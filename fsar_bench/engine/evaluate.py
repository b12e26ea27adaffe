"""The one evaluation loop: a method on a manifest's episodes, chunk by chunk, resumable.

Validation during training, test evaluation and the analyses' ``extras`` all use
:func:`evaluate`. Per block of episodes (default 1,000), every distinct video is embedded once
(``method.embed``); the block's episodes are then scored ``chunk`` at a time as one batch
(``method.compare``). Each episode gives a record
``{"episode": i, "correct": c, "n_query": q, "pred": [...]}``.

* ``records=None``: records are kept in memory (validation).
* ``records=PATH``: records are appended to a JSONL file after every chunk and made durable, so an
  interrupted evaluation continues from the last finished chunk (test evaluation).
* ``keep_extras=True``: the method's ``extras`` of every episode are gathered on the CPU
  (concatenated over episodes), for analyses that read alignment internals.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fsar_bench.episodes.manifest import Manifest
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState, gather_state
from fsar_bench.results.store import accuracies, read_records

__all__ = ["Evaluation", "accuracies", "evaluate", "read_records"]

# (video ids) -> float32 features [V, T, ...] in the method's input kind
FeatureLoader = Callable[[list[str]], torch.Tensor]


@dataclass
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        records: one dict per episode, in episode order.
        extras: ``keep_extras`` only: each extras key concatenated over episodes ``[E, ...]``.
    """

    records: list[dict]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Mean per-episode accuracy (percent)."""
        return float(accuracies(self.records).mean())


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
) -> EpisodeOutput:
    """Logits ``[E, Q, N]`` (and extras) of a chunk of episodes from the embedded ``state``."""
    device = next(iter(state.values())).device
    sup_idx = torch.tensor([[pos[v] for v in ep] for ep in support], device=device)
    qry_idx = torch.tensor([[pos[v] for v in ep] for ep in query], device=device)
    labels = torch.as_tensor(support_labels, device=device)
    return method.compare(gather_state(state, sup_idx), labels, gather_state(state, qry_idx), n_way)


def evaluate(
    method: FewShotMethod,
    manifest: Manifest,
    load: FeatureLoader,
    *,
    device: torch.device | str,
    records: Path | None = None,
    keep_extras: bool = False,
    chunk: int = 50,
    block: int = 1000,
    embed_batch: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Evaluate every episode of ``manifest`` on ``device`` (see the module docstring).

    The method is put in eval mode on ``device`` and stays there. Videos are embedded once per
    ``block`` episodes; episodes are scored ``chunk`` at a time.
    """
    device = torch.device(device)
    method.eval().to(device)
    done = read_records(records) if records is not None else []
    sink = _Sink(records, done)
    extras: list[dict[str, torch.Tensor]] = []
    total = len(manifest.episodes)
    way = manifest.spec.way
    try:
        for b_lo, b_sup, b_lab, b_qry, b_qlab in episode_chunks(manifest, len(done), block):
            ids = sorted({v for ep in b_sup + b_qry for v in ep})
            state = embed_videos(method, load, ids, device, embed_batch)
            pos = {v: i for i, v in enumerate(ids)}
            for lo in range(0, len(b_sup), chunk):
                sl = slice(lo, lo + chunk)
                out = score_chunk(method, state, pos, b_sup[sl], b_lab[sl], b_qry[sl], way)
                if keep_extras:
                    extras.append({k: v.float().cpu() for k, v in out.extras.items()})
                pred = out.logits.float().cpu().argmax(-1).numpy()
                sink.write(b_lo + lo, pred, b_qlab[sl])
                if progress:
                    progress(len(done), total)
    finally:
        sink.close()
    joined = {k: torch.cat([p[k] for p in extras]) for k in extras[0]} if extras else {}
    return Evaluation(done, joined)


class _Sink:
    """Collects records; with a path, appends them as JSONL and makes each chunk durable."""

    def __init__(self, path: Path | None, done: list[dict]) -> None:
        self.done = done
        self.fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(path, "a")

    def write(self, first: int, pred: np.ndarray, labels: np.ndarray) -> None:
        for i in range(len(pred)):
            rec = {
                "episode": first + i,
                "correct": int((pred[i] == labels[i]).sum()),
                "n_query": int(len(labels[i])),
                "pred": pred[i].tolist(),
            }
            if self.fh:
                self.fh.write(json.dumps(rec) + "\n")
            self.done.append(rec)
        if self.fh:
            self.fh.flush()
            os.fsync(self.fh.fileno())

    def close(self) -> None:
        if self.fh:
            self.fh.close()
