"""Evaluation of a method on a manifest's episodes, chunk by chunk, resumable.

Per chunk of episodes, every distinct video is embedded once (``method.embed``), then the chunk's
episodes are scored as one batch (``method.compare``). Each episode gives a record
``{"episode": i, "correct": c, "n_query": q, "pred": [...]}``; records are appended to a JSONL file
after every chunk, so an interrupted evaluation continues from the last finished chunk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from fsar_bench.episodes import Manifest
from fsar_bench.methods.base import FewShotMethod, gather_state

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
def score_chunk(
    method: FewShotMethod,
    load: FeatureLoader,
    support: list[list[str]],
    support_labels: np.ndarray,
    query: list[list[str]],
    n_way: int,
    device: torch.device,
) -> torch.Tensor:
    """Logits ``[E, Q, N]`` of a chunk; each distinct video is loaded and embedded once."""
    ids = sorted({v for ep in support + query for v in ep})
    pos = {v: i for i, v in enumerate(ids)}
    state = method.embed(load(ids).to(device))
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
    chunk: int = 100,
    device: torch.device | str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Evaluate every episode of ``manifest``; records stream to (and resume from) ``records``."""
    device = torch.device(device)
    method.eval().to(device)
    done = read_records(records)
    total = len(manifest.episodes)
    records.parent.mkdir(parents=True, exist_ok=True)
    with open(records, "a") as fh:
        for lo, sup, sup_lab, qry, qry_lab in episode_chunks(manifest, len(done), chunk):
            logits = score_chunk(method, load, sup, sup_lab, qry, manifest.spec.way, device)
            pred = logits.argmax(-1).numpy()
            for i in range(len(sup)):
                rec = {
                    "episode": lo + i,
                    "correct": int((pred[i] == qry_lab[i]).sum()),
                    "n_query": int(len(qry_lab[i])),
                    "pred": pred[i].tolist(),
                }
                fh.write(json.dumps(rec) + "\n")
                done.append(rec)
            fh.flush()
            os.fsync(fh.fileno())
            if progress:
                progress(len(done), total)
    return done


def read_records(path: Path) -> list[dict]:
    """Finished per-episode records; a torn last line (killed mid-write) is dropped and removed."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    good: list[dict] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except ValueError:
            break
    expected = list(range(len(good)))
    if [r["episode"] for r in good] != expected:
        raise ValueError(f"{path}: episode records out of order; delete it to re-evaluate")
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good))
    return good


def accuracies(records: list[dict]) -> np.ndarray:
    """Per-episode accuracy in percent, in episode order."""
    return np.array([100.0 * r["correct"] / r["n_query"] for r in records])
