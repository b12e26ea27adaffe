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
``chunk_bytes`` (default 128 MiB); ``block`` caps the episodes of a block (``None``: only the
memory bound). Embedding batches and chunks run on ``workers`` threads of one intra-op thread
each (:mod:`fsar_bench.engine.parallel`; default: PyTorch's thread count), in order; features
are loaded and records written in the calling thread. Python's cyclic garbage collector is
paused meanwhile (:func:`~fsar_bench.engine.parallel.gc_paused`).

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

Under ``torchrun`` (``world > 1``) every rank makes the same plan; a block's embedding batches
and its chunks are dealt out in turn (item ``i`` to rank ``i % world``), and every rank receives
all states, and each round of ``world`` chunks' predictions (:meth:`Runtime.gather`): every rank
returns all records (DDP validation decides alike on every rank), the same bytes as one process's
with the same threads per process. Rank 0 alone reads (and sends) and writes the records file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

import numpy as np
import torch

from fsar_bench.engine.parallel import Workers, gc_paused
from fsar_bench.episodes.manifest import Manifest
from fsar_bench.errors import FsarError
from fsar_bench.methods.base import FewShotMethod, VideoState, gather_state
from fsar_bench.results.store import RecordSink, accuracies, read_records
from fsar_bench.runtime import Runtime

__all__ = ["Evaluation", "Plan", "accuracies", "evaluate", "plan", "read_records"]

# (video ids) -> float32 features [V, T, ...] in the method's input kind
FeatureLoader = Callable[[list[str]], torch.Tensor]

STATE_BYTES = 2 << 30
CHUNK_BYTES = 128 << 20
SYNC_SECONDS = 10.0


@dataclass(kw_only=True)
class Evaluation:
    """What :func:`evaluate` returns.

    Attributes:
        records: one dict per episode, in episode order.
        extras: ``keep_extras`` only: each extras key concatenated over episodes ``[E, ...]``.
        seconds: with a records file, the evaluation's wall time summed over the processes
            that resumed it (``timing.json``); else this call's.
    """

    records: list[dict]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def accuracy(self) -> float:
        """Mean per-episode accuracy (percent)."""
        return float(accuracies(self.records).mean())


@dataclass(frozen=True, kw_only=True)
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
    if block is None and len(set().union(*episodes)) <= cap:  # all states fit: one block
        return Plan(blocks=[(0, len(episodes))], chunk=chunk, video_bytes=video_bytes)
    limit = block or len(episodes)
    blocks, start, seen = [], 0, set()
    for i, ep in enumerate(episodes):
        new = set(ep) - seen
        if i > start and (len(seen) + len(new) > cap or i - start >= limit):
            blocks.append((start, i))
            start, seen, new = i, set(), set(ep)
        seen |= new
    blocks.append((start, len(episodes)))
    return Plan(blocks=blocks, chunk=chunk, video_bytes=video_bytes)


def embed_videos(
    method: FewShotMethod,
    load: FeatureLoader,
    ids: list[str],
    device: torch.device,
    batch: int,
    workers: Workers | None = None,
    runtime: Runtime | None = None,
) -> VideoState:
    """States of ``ids`` (leading ``V`` in ``ids`` order), embedded ``batch`` videos at a time.

    Features are loaded in the calling thread; batches are embedded on ``workers``; under
    ``torchrun`` each rank embeds every ``world``-th batch and receives the others' states.
    """
    workers, runtime = workers or Workers(1), runtime or Runtime(device=device)
    mine = runtime.mine(range(0, len(ids), batch))
    batches = (load(ids[i : i + batch]).to(device) for i in mine)
    parts = [state for _, state in workers.ordered(method.embed, batches)]
    if runtime.distributed:  # batch i was embedded by rank i % world
        every = runtime.gather([{k: v.cpu() for k, v in p.items()} for p in parts])
        n, w = -(-len(ids) // batch), runtime.world
        parts = [{k: v.to(device) for k, v in every[i % w][i // w].items()} for i in range(n)]
    return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


@torch.no_grad()
def state_bytes_per_video(method: FewShotMethod, load: FeatureLoader, video: str, device) -> int:
    """Bytes of one video's state (one video embedded to measure it)."""
    state = method.embed(load([video]).to(device))
    return sum(t.numel() * t.element_size() for t in state.values())


@gc_paused()
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
    workers: int | None = None,
    sync_seconds: float = SYNC_SECONDS,
    progress: Callable[[int, int], None] | None = None,
    runtime: Runtime | None = None,
) -> Evaluation:
    """Evaluate every episode of ``manifest`` on ``device`` (see the module docstring).

    The method is put in eval mode on ``device`` and stays there. ``chunk``, ``block``: episodes
    per ``compare`` call and per embedded block (``None``: from ``chunk_bytes`` and
    ``state_bytes``). ``workers``: threads (:mod:`~fsar_bench.engine.parallel`; default
    ``torch.get_num_threads()`` on the CPU, 1 on other devices). ``runtime``: this rank under
    ``torchrun`` (``None``: one process; ``progress`` is called on rank 0 only)."""
    device = torch.device(device)
    runtime = runtime or Runtime(device=device)
    method.eval().to(device)
    n = len(manifest.episodes)
    done = runtime.on_main(lambda: read_records(records, n) if records is not None else [])
    sink = RecordSink(records if runtime.is_main else None, done, sync_seconds)
    if len(done) >= n:
        return Evaluation(records=done, seconds=sink.clock.seconds)
    job = _Job(
        method,
        manifest,
        load,
        device,
        runtime=runtime,
        batch=embed_batch,
        keep_extras=keep_extras,
        progress=progress if runtime.is_main else None,
    )
    episodes = job.episodes
    size = state_bytes_per_video(method, load, episodes[0][0], device)
    layout = plan(
        episodes, size, state_bytes=state_bytes, chunk=chunk, chunk_bytes=chunk_bytes, block=block
    )
    try:
        with Workers(workers or (torch.get_num_threads() if device.type == "cpu" else 1)) as pool:
            for b_lo, b_hi in layout.blocks:
                if b_hi > len(done):
                    job.block((b_lo, b_hi), layout.chunk, sink, pool)
    finally:
        sink.close()
    return Evaluation(records=done, extras=job.joined_extras(), seconds=sink.clock.seconds)


def check_finite(logits: torch.Tensor, what: str) -> None:
    """A one-line error when ``logits`` hold NaN or infinity (a diverged or corrupt model must
    not be scored as if it guessed)."""
    if not bool(torch.isfinite(logits).all()):
        raise FsarError(
            f"non-finite {what} (NaN or infinity): the model diverged or its inputs are "
            "corrupt; check the training's loss and the feature cache"
        )


def _rows(episodes: list[list[str]], ids: list[str], device: torch.device) -> torch.Tensor:
    """Rows of each episode's videos in the block state: ``[E, S + Q]``."""
    pos = {v: i for i, v in enumerate(ids)}
    flat = chain.from_iterable(episodes)
    rows = np.fromiter(map(pos.__getitem__, flat), np.int64, sum(map(len, episodes)))
    return torch.from_numpy(rows.reshape(len(episodes), -1)).to(device)


class _Job:
    """Scores a block's chunks and hands their predictions (and extras) to the sink."""

    def __init__(
        self, method, manifest, load, device, *, runtime, batch, keep_extras, progress
    ) -> None:
        self.method, self.load, self.device = method, load, device
        self.runtime, self.batch = runtime, batch
        self.sup, self.sup_lab, self.qry, self.qry_lab = manifest.arrays()
        self.way, self.keep_extras, self.progress = manifest.spec.way, keep_extras, progress
        self.episodes = [s + q for s, q in zip(self.sup, self.qry)]  # [E][S + Q] video ids
        self.extras: list[dict[str, torch.Tensor]] = []

    def joined_extras(self) -> dict[str, torch.Tensor]:
        """The kept extras of every chunk, concatenated along the episodes."""
        extras = self.extras
        return {k: torch.cat([p[k] for p in extras]) for k in extras[0]} if extras else {}

    def block(self, bounds, chunk: int, sink, pool: Workers) -> None:
        """Chunks of ``bounds`` from the first with a missing record (whole chunks), in rounds."""
        b_lo, b_hi, runtime, episodes = *bounds, self.runtime, self.episodes
        start = b_lo + max(0, len(sink.done) - b_lo) // chunk * chunk
        spans = [(lo, min(lo + chunk, b_hi)) for lo in range(start, b_hi, chunk)]
        ids = sorted({v for ep in episodes[b_lo:b_hi] for v in ep})
        state = embed_videos(
            self.method, self.load, ids, self.device, self.batch, workers=pool, runtime=runtime
        )
        rows = _rows(episodes[b_lo:b_hi], ids, self.device)
        n_sup = len(self.sup[0])

        def score(span: tuple[int, int]) -> tuple[np.ndarray, dict]:
            r = rows[span[0] - b_lo : span[1] - b_lo]
            labels = torch.as_tensor(self.sup_lab[span[0] : span[1]], device=self.device)
            sup = gather_state(state, r[:, :n_sup], lazy=True)  # keys gathered on first read
            qry = gather_state(state, r[:, n_sup:], lazy=True)
            out = self.method.compare(sup, labels, qry, self.way)
            check_finite(out.logits, f"logits of episodes {span[0]}-{span[1] - 1}")
            extras = {k: v.float().cpu() for k, v in out.extras.items()} if self.keep_extras else {}
            return out.logits.float().cpu().argmax(-1).numpy(), extras

        results = pool.ordered(score, runtime.mine(spans))
        for _ in range(0, len(spans), runtime.world):  # one round: `world` consecutive chunks
            for item in runtime.gather(next(results, None)):
                if item is not None:
                    self._record(*item, sink)

    def _record(self, span: tuple[int, int], result: tuple[np.ndarray, dict], sink) -> None:
        """One chunk's records (those not recorded yet) to the sink; its extras kept."""
        (lo, hi), (pred, extras) = span, result
        skip = max(0, len(sink.done) - lo)  # recomputed episodes that are already recorded
        if self.keep_extras:
            self.extras.append({k: v[skip:] for k, v in extras.items()})
        sink.write(lo + skip, pred[skip:], self.qry_lab[lo + skip : hi])
        if self.progress:
            self.progress(len(sink.done), len(self.sup))
