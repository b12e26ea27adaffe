"""The one evaluation loop: a method on a manifest's episodes, each video embedded once, resumable.

Validation during training, test evaluation and the analyses' ``extras`` all use
:func:`evaluate`. Each episode gives a record
``{"episode": i, "correct": c, "n_query": q, "pred": [...]}``.

Plan (:func:`plan`). Every distinct video of the manifest is embedded once (``method.embed``,
``embed_batch`` videos at a time, in sorted id order) and the episodes are scored ``chunk`` at a
time as one batch (``method.compare``) from the gathered states. Memory bound: when the states of
all distinct videos would exceed ``state_bytes`` (default 2 GiB), the episodes are split into
*blocks* of consecutive episodes whose distinct videos fit, and each block embeds its own videos
(a video shared by two blocks is embedded twice). The size of one video's state is measured by
embedding one video. ``chunk`` defaults to as many episodes as keep their gathered states under
``chunk_bytes`` (default 16 MiB, so the gathered tensors stay in the caches); ``block`` caps the
episodes of a block (``None``: only the memory bound).

* ``records=None``: records are kept in memory (validation).
* ``records=PATH``: each chunk's records are appended to a JSONL file in one write and flushed
  (a killed process loses at most the chunk being written; :func:`read_records` drops a torn
  last line); the file is fsynced at most every ``sync_seconds`` and at the end, so a crashed
  machine loses at most that much. An interrupted evaluation continues from its last record.
* ``keep_extras=True``: the method's ``extras`` of every episode are gathered on the CPU
  (concatenated over episodes), for analyses that read alignment internals.

Resume is exact: blocks and chunks are fixed by episode positions counted from episode 0, not
from the resume point, and the block and chunk holding the first missing episode are recomputed
whole (only the missing records are written). Every episode is therefore computed in the same
batches as in an unbroken run with the same settings and threads, so even results that depend on
batch composition through float rounding do not change.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fsar_bench.episodes.manifest import Manifest
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState, gather_state
from fsar_bench.results.store import accuracies, read_records

__all__ = ["Evaluation", "Plan", "accuracies", "evaluate", "plan", "read_records"]

# (video ids) -> float32 features [V, T, ...] in the method's input kind
FeatureLoader = Callable[[list[str]], torch.Tensor]

STATE_BYTES = 2 << 30
CHUNK_BYTES = 16 << 20
SYNC_SECONDS = 10.0


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


@dataclass(frozen=True)
class Plan:
    """How :func:`evaluate` splits a manifest (episode positions from 0).

    Attributes:
        blocks: ``[start, stop)`` episode ranges that embed their videos together.
        chunk: episodes per ``compare`` call (chunks start at each block's start).
        video_bytes: size of one video's state.
    """

    blocks: list[tuple[int, int]]
    chunk: int
    video_bytes: int


def plan(
    episodes: list[list[str]],
    video_bytes: int,
    *,
    state_bytes: int = STATE_BYTES,
    chunk: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    block: int | None = None,
) -> Plan:
    """Blocks and chunk size for episodes given as their video ids (see the module docstring)."""
    per_episode = max(1, video_bytes * max(len(ep) for ep in episodes))
    chunk = chunk or max(1, chunk_bytes // per_episode)
    cap = max(1, state_bytes // max(1, video_bytes))
    limit = block or len(episodes)
    blocks, start, seen = [], 0, set()
    for i, ep in enumerate(episodes):
        new = set(ep) - seen
        if i > start and (len(seen) + len(new) > cap or i - start >= limit):
            blocks.append((start, i))
            start, seen, new = i, set(), set(ep)
        seen |= new
    blocks.append((start, len(episodes)))
    return Plan(blocks, chunk, video_bytes)


@torch.no_grad()
def embed_videos(
    method: FewShotMethod, load: FeatureLoader, ids: list[str], device: torch.device, batch: int
) -> VideoState:
    """States of ``ids`` (leading ``V`` in ``ids`` order), embedded ``batch`` videos at a time."""
    parts = [method.embed(load(ids[i : i + batch]).to(device)) for i in range(0, len(ids), batch)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def state_bytes_per_video(method: FewShotMethod, load: FeatureLoader, video: str, device) -> int:
    """Bytes of one video's state (one video embedded to measure it)."""
    state = method.embed(load([video]).to(device))
    return sum(t.numel() * t.element_size() for t in state.values())


def evaluate(
    method: FewShotMethod,
    manifest: Manifest,
    load: FeatureLoader,
    *,
    device: torch.device | str,
    records: Path | None = None,
    keep_extras: bool = False,
    chunk: int | None = None,
    block: int | None = None,
    embed_batch: int = 256,
    state_bytes: int = STATE_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
    sync_seconds: float = SYNC_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Evaluate every episode of ``manifest`` on ``device`` (see the module docstring).

    The method is put in eval mode on ``device`` and stays there. ``chunk``, ``block``: episodes
    per ``compare`` call and per embedded block (``None``: from ``chunk_bytes`` and
    ``state_bytes``).
    """
    device = torch.device(device)
    method.eval().to(device)
    sup, sup_lab, qry, qry_lab = manifest.arrays()
    done = read_records(records) if records is not None else []
    total = len(sup)
    extras: list[dict[str, torch.Tensor]] = []
    if len(done) >= total:
        return Evaluation(done)
    episodes = [s + q for s, q in zip(sup, qry)]
    size = state_bytes_per_video(method, load, episodes[0][0], device)
    layout = plan(episodes, size, state_bytes=state_bytes, chunk=chunk,
                  chunk_bytes=chunk_bytes, block=block)  # fmt: skip
    sink = _Sink(records, done, sync_seconds)
    try:
        for b_lo, b_hi in layout.blocks:
            if b_hi <= len(done):
                continue
            ids = sorted({v for ep in episodes[b_lo:b_hi] for v in ep})
            state = embed_videos(method, load, ids, device, embed_batch)
            pos = {v: i for i, v in enumerate(ids)}
            resume = max(0, len(done) - b_lo) // layout.chunk * layout.chunk  # whole chunks
            for lo in range(b_lo + resume, b_hi, layout.chunk):
                hi = min(lo + layout.chunk, b_hi)
                out = score_chunk(method, state, pos, sup[lo:hi], sup_lab[lo:hi], qry[lo:hi],
                                  manifest.spec.way)  # fmt: skip
                skip = max(0, len(done) - lo)  # recomputed episodes that are already recorded
                if keep_extras:
                    extras.append({k: v[skip:].float().cpu() for k, v in out.extras.items()})
                pred = out.logits[skip:].float().cpu().argmax(-1).numpy()
                sink.write(lo + skip, pred, qry_lab[lo + skip : hi])
                if progress:
                    progress(len(done), total)
            del state
    finally:
        sink.close()
    joined = {k: torch.cat([p[k] for p in extras]) for k in extras[0]} if extras else {}
    return Evaluation(done, joined)


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


class _Sink:
    """Collects records; with a path, appends each chunk as JSONL and fsyncs now and then."""

    def __init__(self, path: Path | None, done: list[dict], sync_seconds: float) -> None:
        self.done = done
        self.fh = None
        self.sync_seconds = sync_seconds
        self.synced = time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(path, "a")

    def write(self, first: int, pred: np.ndarray, labels: np.ndarray) -> None:
        correct = (pred == labels).sum(1).tolist()
        recs = [
            {"episode": first + i, "correct": c, "n_query": len(p), "pred": p}
            for i, (c, p) in enumerate(zip(correct, pred.tolist()))
        ]
        self.done.extend(recs)
        if self.fh:
            self.fh.write("".join(json.dumps(r) + "\n" for r in recs))
            self.fh.flush()
            if time.monotonic() - self.synced >= self.sync_seconds:
                self.sync()

    def sync(self) -> None:
        os.fsync(self.fh.fileno())
        self.synced = time.monotonic()

    def close(self) -> None:
        if self.fh:
            self.fh.flush()
            self.sync()
            self.fh.close()
