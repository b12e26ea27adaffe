"""Training and scoring loops of the probes (see :mod:`fsar_bench.analysis.probe`).

Every epoch draws its clip plans (order, views or frames, crops) from one seeded
``numpy.random.Generator`` before any clip is read, and resets the torch seed (dropout), so the
checkpoint written after each epoch (``last.pt``: model, optimiser, generator state, history)
lets an interrupted training end with the same weights as an unbroken one.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fsar_bench.analysis.probe_clips import FeatureClips, FrameClips

if TYPE_CHECKING:
    from fsar_bench.analysis.probe import ProbeConfig, ProbeVideo

Progress = Callable[[str, int, int], None]


class _Plans(torch.utils.data.Dataset):
    def __init__(self, clips, plans: list, labels: list[int]) -> None:
        self.clips, self.plans, self.labels = clips, plans, labels

    def __len__(self) -> int:
        return len(self.plans)

    def __getitem__(self, i: int):
        return self.clips.load(self.plans[i]), self.labels[i]


def _loader(clips, plans: list, labels: list[int], batch: int, workers: int):
    data = _Plans(clips, plans, labels)
    return torch.utils.data.DataLoader(data, batch_size=batch, num_workers=workers)


def _lr(config: ProbeConfig, epoch: int) -> float:
    """Step schedule: divided by 10 at 40% and 80% of the epochs (TSM: 20 and 40 of 50)."""
    steps = sum(epoch >= round(f * config.epochs) for f in (0.4, 0.8))
    return config.lr * 0.1**steps


def _resume(path: Path, model: nn.Module, opt, rng: np.random.Generator, device) -> dict:
    """Load ``last.pt`` into model, optimiser and generator; returns the record so far."""
    if not path.is_file():
        return {"epoch": 0, "history": [], "seconds": 0.0}
    state = torch.load(path, map_location=device, weights_only=False)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = json.loads(state["rng"])
    return state["record"]


def _epoch(model, opt, params, loader, config, device, tick: Callable[[int], None]) -> tuple:
    """One pass over ``loader``; returns ``(summed loss, correct videos)``."""
    model.train()
    loss_sum, correct = 0.0, 0
    for b, (x, y) in enumerate(loader):
        out = model(x.to(device))  # video_logits [B, K]
        loss = F.cross_entropy(out.video_logits, y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, config.grad_clip)
        opt.step()
        loss_sum += float(loss.detach()) * len(y)
        correct += int((out.video_logits.argmax(-1).cpu() == y).sum())
        tick(b + 1)
    return loss_sum, correct


def train_probe(
    model: nn.Module,
    clips: FeatureClips | FrameClips,
    videos: list[ProbeVideo],
    config: ProbeConfig,
    folder: Path,
    device: torch.device,
    workers: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Train ``model`` on ``videos``, resuming from ``folder/last.pt``.

    Returns:
        The record: ``epoch``, ``seconds`` and per-epoch ``history`` (lr, loss, accuracy).
    """
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng([config.seed, 1])
    path = folder / "last.pt"
    record = _resume(path, model, opt, rng, device)
    steps = math.ceil(len(videos) / config.batch)
    for epoch in range(record["epoch"], config.epochs):
        start = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)
        order = rng.permutation(len(videos))
        plans = [clips.plan(videos[i].split, videos[i].video_id, rng) for i in order]
        labels = [videos[i].label for i in order]
        for group in opt.param_groups:
            group["lr"] = _lr(config, epoch)
        loader = _loader(clips, plans, labels, config.batch, workers)

        def tick(b: int, epoch: int = epoch) -> None:
            if progress:
                progress("train probe", epoch * steps + b, config.epochs * steps)

        loss_sum, correct = _epoch(model, opt, params, loader, config, device, tick)
        seconds = time.perf_counter() - start
        record["history"].append(
            {"epoch": epoch + 1, "lr": _lr(config, epoch), "loss": loss_sum / len(videos),
             "train_accuracy": correct / len(videos), "seconds": round(seconds, 2)}
        )  # fmt: skip
        record.update(epoch=epoch + 1, seconds=record["seconds"] + seconds)
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "rng": json.dumps(rng.bit_generator.state), "record": record}  # fmt: skip
        torch.save(state, folder / "last.pt.partial")
        os.replace(folder / "last.pt.partial", path)
    return record


@torch.no_grad()
def score_probe(
    model: nn.Module,
    clips: FeatureClips | FrameClips,
    videos: list[ProbeVideo],
    device: torch.device,
    batch: int = 32,
    workers: int = 0,
    progress: Progress | None = None,
) -> dict[str, np.ndarray]:
    """Per-frame logits of each video's scoring clip.

    Returns:
        ``frame_logits [V, T, K]`` float32, ``indices [V, T]`` int64 and ``clips [V]`` str.
    """
    model.to(device).eval()
    plans = [clips.plan(v.split, v.video_id, None) for v in videos]
    logits = []
    for x, _ in _loader(clips, plans, [v.label for v in videos], batch, workers):
        logits.append(model(x.to(device)).frame_logits.float().cpu())  # [B, T, K]
        if progress:
            progress("score", sum(len(t) for t in logits), len(videos))
    return {
        "frame_logits": torch.cat(logits).numpy(),
        "indices": np.stack([clips.indices(p) for p in plans]).astype(np.int64),
        "clips": np.array([clips.describe(p) for p in plans]),
    }
