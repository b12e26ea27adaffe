"""Training and scoring loops of the probes (see :mod:`fsar_bench.analysis.probe.trained`).

Training. Kept from TSM's recipe (``scripts/train_tsm_kinetics_rgb_8f.sh``): cross-entropy on
the average of the per-frame logits (TSN consensus), dropout 0.5, gradient norm clipped at 20,
learning rate divided by 10 at 40% and 80% of the epochs (TSM: epochs 20 and 40 of 50), no
partial BatchNorm. ``tsm-resnet50`` also keeps SGD, momentum 0.9, lr 0.02, weight decay 1e-4.
Differences for both modes: batch 32 (TSM: 128) and 12 epochs (TSM: 50), for the CPU budget; one
parameter group (TSM exempts BatchNorm from weight decay); random crops of the ``size * 256/224``
resized frame instead of TSM's multi-scale crops; a quarter of each class scored
(``score_fraction``: 15 of the 20 videos of a synthetic class train). ``feature-tsm`` defaults
(``docs/probe.md`` gives the ``--set`` options that restore the former ones): AdamW, lr 0.01,
weight decay 0.05; the inputs are the frame differences ``x_t - x_{t-1}`` of the cached features
(``inputs="diff"``, TSN's RGB-difference idea on frozen features: frame 0 reads zeros, and what
never changes, such as a static background, is invisible); every epoch reads every cached
training view of a train-split video (``every_view``); width 64, bottleneck 32; 4 shift blocks
(each output sees +-4 frames, i.e. the whole 8-frame clip, as every output of TSM ResNet-50 with
its 16 shifts does).

Why these defaults: the former ones memorised each video's photographs instead of its
action; the measurements that chose the new ones (held-out accuracy per change, training time)
are in ``docs/probe.md``.

Resume. Every epoch draws its clip plans (order, views or frames, crops) from one seeded
``numpy.random.Generator`` before any clip is read, and resets the torch seed (dropout), so the
checkpoint written after each epoch (``last.safetensors``: model and optimiser tensors, with the
generator state and the record as JSON; :mod:`fsar_bench.engine.checkpoint`, never a pickle)
lets an interrupted training end with the same weights as an unbroken one. A pickled ``last.pt``
of an earlier version is refused with a one-line error, not loaded.
"""

from __future__ import annotations

import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fsar_bench.analysis.probe.clips import FeatureClips, FrameClips
from fsar_bench.analysis.probe.config import ProbeConfig, ProbeVideo
from fsar_bench.engine import checkpoint as ck
from fsar_bench.files import atomic_path, dumps, read_json, write_text
from fsar_bench.progress import Progress


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
    return config.recipe()[1] * 0.1**steps


def _optimizer(params: list, config: ProbeConfig) -> torch.optim.Optimizer:
    """AdamW (``adamw``) or TSM's SGD with momentum (``sgd``); see ``ProbeConfig.recipe``."""
    name, lr, weight_decay = config.recipe()
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=weight_decay)


def epoch_plans(clips, videos: list, rng: np.random.Generator, every_view: bool) -> tuple:
    """One epoch's ``(plans, labels)`` in a random order.

    One clip per video (a random allowed view, or TSN sampling for frames), or with
    ``every_view`` every allowed cached view of each video (:class:`FeatureClips` only).
    """
    if every_view and isinstance(clips, FeatureClips):
        items = [(p, v.label) for v in videos for p in clips.all_plans(v.split, v.video_id)]
        shuffled = [items[i] for i in rng.permutation(len(items))]
        return [p for p, _ in shuffled], [y for _, y in shuffled]
    order = rng.permutation(len(videos))
    plans = [clips.plan(videos[i].split, videos[i].video_id, rng) for i in order]
    return plans, [videos[i].label for i in order]


def _resume(folder: Path, model: nn.Module, opt, rng: np.random.Generator) -> dict:
    """Load ``last.safetensors`` into model, optimiser and generator; returns the record so far.

    Never unpickles: a ``last.pt`` (earlier versions) or a file that is not a safetensors
    checkpoint is refused with a one-line error.
    """
    ck.refuse_legacy(folder / "last.pt")
    loaded = ck.load_checkpoint(folder / "last.safetensors")
    if loaded is None:
        return {"epoch": 0, "history": [], "seconds": 0.0}
    tensors, meta = loaded
    model.load_state_dict(ck.unprefixed("model/", tensors))
    ck.load_optimizer(opt, ck.unprefixed("optimizer/", tensors), meta["optimizer"])
    rng.bit_generator.state = meta["rng"]
    return meta["record"]


def _save(folder: Path, model: nn.Module, opt, rng: np.random.Generator, record: dict) -> None:
    """Write ``last.safetensors`` (tensors) with the generator state and record (JSON)."""
    opt_tensors, opt_meta = ck.optimizer_parts(opt)
    tensors = {
        **ck.prefixed("model/", model.state_dict()),
        **ck.prefixed("optimizer/", opt_tensors),
    }
    meta = {"optimizer": opt_meta, "rng": rng.bit_generator.state, "record": record}
    ck.save_checkpoint(folder / "last.safetensors", tensors, meta)


@dataclass(frozen=True, kw_only=True)
class ProbeRun:
    """A probe network, the clips it reads and where it runs.

    Attributes:
        model: the network (:func:`~fsar_bench.analysis.probe.models.build_model`).
        clips: its inputs. device: where it trains and scores.
        workers: decoding processes (0: in this process).
        progress: ``progress(stage, done, total)``.
    """

    model: nn.Module
    clips: FeatureClips | FrameClips
    device: torch.device
    workers: int = 0
    progress: Progress | None = None


def _epoch(run: ProbeRun, opt, loader, grad_clip: float, tick: Callable[[int], None]) -> tuple:
    """One pass over ``loader``; returns ``(summed loss, correct videos)``."""
    model, device = run.model, run.device
    params = [p for group in opt.param_groups for p in group["params"]]
    model.train()
    loss_sum, correct = 0.0, 0
    for b, (x, y) in enumerate(loader):
        out = model(x.to(device))  # video_logits [B, K]
        loss = F.cross_entropy(out.video_logits, y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, grad_clip)
        opt.step()
        loss_sum += float(loss.detach()) * len(y)
        correct += int((out.video_logits.argmax(-1).cpu() == y).sum())
        tick(b + 1)
    return loss_sum, correct


def train_probe(run: ProbeRun, videos: list[ProbeVideo], config: ProbeConfig, folder: Path) -> dict:
    """Train ``run.model`` on ``videos``, resuming from ``folder/last.safetensors``.

    Returns:
        The record: ``epoch``, ``seconds`` and per-epoch ``history`` (lr, loss, accuracy).
    """
    model = run.model.to(run.device)
    opt = _optimizer([p for p in model.parameters() if p.requires_grad], config)
    rng = np.random.default_rng([config.seed, 1])
    record = _resume(folder, model, opt, rng)
    for epoch in range(record["epoch"], config.epochs):
        start = time.perf_counter()
        torch.manual_seed(config.seed * 100_003 + epoch)
        plans, labels = epoch_plans(run.clips, videos, rng, config.every_view)
        steps = math.ceil(len(plans) / config.batch)  # the same every epoch
        for group in opt.param_groups:
            group["lr"] = _lr(config, epoch)
        loader = _loader(run.clips, plans, labels, config.batch, run.workers)

        def tick(b: int, epoch: int = epoch, steps: int = steps) -> None:
            if run.progress:
                run.progress("train probe", epoch * steps + b, config.epochs * steps)

        loss_sum, correct = _epoch(run, opt, loader, config.grad_clip, tick)
        seconds = time.perf_counter() - start
        record["history"].append(
            {
                "epoch": epoch + 1,
                "lr": _lr(config, epoch),
                "loss": loss_sum / len(plans),
                "train_accuracy": correct / len(plans),
                "clips": len(plans),
                "seconds": round(seconds, 2),
            }
        )
        record.update(epoch=epoch + 1, seconds=record["seconds"] + seconds)
        _save(folder, model, opt, rng, record)
    return record


@torch.no_grad()
def score_probe(run: ProbeRun, videos: list[ProbeVideo], batch: int = 32) -> dict[str, np.ndarray]:
    """Per-frame logits of each video's scoring clip.

    Returns:
        ``frame_logits [V, T, K]`` float32, ``indices [V, T]`` int64 and ``clips [V]`` str.
    """
    model, clips = run.model.to(run.device).eval(), run.clips
    plans = [clips.plan(v.split, v.video_id, None) for v in videos]
    logits = []
    for x, _ in _loader(clips, plans, [v.label for v in videos], batch, run.workers):
        logits.append(model(x.to(run.device)).frame_logits.float().cpu())  # [B, T, K]
        if run.progress:
            run.progress("score", sum(len(t) for t in logits), len(videos))
    return {
        "frame_logits": torch.cat(logits).numpy(),
        "indices": np.stack([clips.indices(p) for p in plans]).astype(np.int64),
        "clips": np.array([clips.describe(p) for p in plans]),
    }


def trained_record(
    run: ProbeRun, videos: list[ProbeVideo], config: ProbeConfig, folder: Path
) -> dict:
    """Load ``folder``'s final weights into ``run.model``, or train it (resuming) and save them.

    Returns:
        The training record (``train.json``).
    """
    weights, record_file = folder / "probe.safetensors", folder / "train.json"
    record = read_json(record_file)
    if not (isinstance(record, dict) and ck.readable(weights)):  # absent or torn: (re)done
        record = train_probe(run, videos, config, folder)
        ck.save_weights(weights, run.model)
        write_text(record_file, dumps(record, indent=1) + "\n")
    ck.load_weights(weights, run.model)
    return record


def cached_scores(run: ProbeRun, videos: list[ProbeVideo], folder: Path, batch: int) -> dict:
    """:func:`score_probe` of ``videos``, saved to ``folder/scores.npz`` on first use."""
    path = folder / "scores.npz"
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # absent or torn: scored again
        pass
    arrays = score_probe(run, videos, batch)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    return arrays
