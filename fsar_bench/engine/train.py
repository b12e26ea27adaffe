"""Episodic training on cached features: batched episodes, validation, plateau stop, resume.

* Training episodes are drawn from the train split with a ``numpy.random.Generator`` owned by the
  trainer (the manifests' one draw, :func:`fsar_bench.episodes.draw.draw_episode`); a step draws
  ``E = batch`` episodes one after the other from it, and for each episode one cached training
  view per video. The ``E * N * (K + Q)`` videos are read in one call (``TrainData.load``, a
  :class:`~fsar_bench.features.bank.FeatureBank` in a run: memory-mapped maps, pooled features in
  RAM), embedded in one ``method.embed`` call and scored per episode by ``method.compare``; the
  loss is the method's mean over the ``E`` episodes. An optimiser step takes ``accumulate``
  such batches (gradient accumulation; default 1): the gradient of the mean of their means.
* ``TrainData.load`` may return anything ``method.embed`` reads: cached features, or decoded
  clips for an end-to-end model (:mod:`fsar_bench.engine.finetune`). A loader with
  ``TrainData.prefetch`` is handed the next batch's ids and views once the current one is
  loaded, before it is computed (drawn ahead on a copy of the generator, so the generator's
  state and every result are unchanged), so it can decode them meanwhile.
* Every ``val_every`` episodes the model is evaluated on a fixed, seeded manifest of the
  **validation** split (:func:`fsar_bench.engine.evaluate.evaluate`, on the trainer's device);
  the best weights by validation accuracy are kept (``best.safetensors``). The learning rate
  follows :mod:`fsar_bench.engine.schedule`, whose plateau rule stops the training (or the
  ``episodes`` budget does); ``stop_reason`` says which. The test split is never looked at.
* ``last.safetensors`` (model, optimiser and random states as tensors, the rest as JSON; see
  :mod:`fsar_bench.engine.checkpoint`, never a pickle) is written at every validation, so an
  interrupted training continues from there and ends with the same weights and history as an
  unbroken one; a finished training is not repeated.

Under ``torchrun`` (a :class:`~fsar_bench.runtime.Runtime` with ``world > 1``) the training is
data-parallel: each rank draws its own episodes from a generator seeded by ``(seed, rank)``
(:func:`episode_rng`; one process keeps the generator seeded by ``seed``), runs ``batch`` of
them per step through :class:`~torch.nn.parallel.DistributedDataParallel`
(:mod:`fsar_bench.engine.parallel`), which averages the gradients, so a step is the mean loss
over the ``world * batch`` episodes of all ranks. ``episodes`` and ``val_every`` count the
episodes of all ranks (the last step may pass the budget by less than ``world`` episodes).
Validation is the distributed evaluation, which gives every rank all records, so every rank
takes the same plateau and best-weights decisions and all stop together. Only rank 0 writes
checkpoints, after gathering every rank's generator and torch random states into
``last.safetensors`` (``world`` recorded; resuming with another number of processes is
refused); the others wait at a barrier before anything reads them. Dropout masks and the
method's own generators (TRN++) follow the same stream on every rank; only the episodes differ.

Optimiser defaults follow the papers where the CPU budget allows; the suite trains on frozen
cached features, not the papers' fine-tuned backbones. This is stated in every summary.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fsar_bench.engine import checkpoint as ck
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.engine.parallel import EpisodeLoss, data_parallel
from fsar_bench.engine.schedule import (
    TrainConfig,
    TrainingState,
    after_validation,
    learning_rate,
    make_optimizer,
    recorded,
)
from fsar_bench.engine.train_data import (
    TrainData,
    check_train_split,
    draw_training_episode,
    episode_rng,
)
from fsar_bench.errors import FsarError
from fsar_bench.methods.base import FewShotMethod
from fsar_bench.results.store import Clock
from fsar_bench.runtime import Runtime

__all__ = [
    "TrainConfig",
    "TrainData",
    "Trainer",
    "draw_training_episode",
    "episode_rng",
    "load_best",
]


# (video ids, view per video or None for the test-time view) -> float32 features [V, T, ...]
class Trainer:
    """Trains one method for one (way, shot) setting; see the module docstring.

    ``runtime``: the device and, under ``torchrun``, this rank (DDP); without it, one process on
    ``device``. ``method``: any module with ``embed``, ``compare`` and ``loss``.
    """

    def __init__(
        self,
        method: FewShotMethod,
        cfg: TrainConfig,
        data: TrainData,
        *,
        out_dir: Path | None,
        device: str | torch.device | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.method, self.cfg, self.data, self.out = method, cfg, data, out_dir
        self.way, self.shot = data.way, data.shot
        self.by_class = {c: v for c, v in data.index.by_class().items() if v}
        check_train_split(self.by_class, self.way, self.shot, cfg.query)
        self.runtime = runtime or Runtime(device=torch.device(device or "cpu"))
        timing = out_dir / "timing.json" if out_dir is not None else None  # None: draws only
        self.clock = Clock(timing, "train_seconds", resume=False)
        self.last_loss: float | None = None  # the last finite training loss
        self.device = self.runtime.device
        method.to(self.device)
        params = [p for p in method.parameters() if p.requires_grad]
        self.opt = make_optimizer(params, cfg, self.device)
        self.net = data_parallel(EpisodeLoss(method), self.runtime)
        self.rng = episode_rng(cfg.seed, self.runtime.rank, self.runtime.world)
        self.state = TrainingState()
        dev = self.device
        self.sup_lab = torch.arange(self.way, device=dev).repeat_interleave(self.shot)  # [S]
        self.qry_lab = torch.arange(self.way, device=dev).repeat_interleave(cfg.query)  # [Q]

    @property
    def best(self) -> float:
        return self.state.best

    @property
    def history(self) -> list[dict]:
        return self.state.history

    @property
    def stop_reason(self) -> str:
        return self.state.stop

    @property
    def seconds(self) -> float:
        """Training wall time, summed over the processes that resumed it."""
        return self.clock.seconds

    # --- checkpoints ------------------------------------------------------------------------
    def save(self) -> None:
        """``last.safetensors`` on rank 0, with every rank's generator and random states
        (one process: ``random/*`` and ``rng``; ``world > 1``: ``random/<rank>/*``, a list)."""
        ranks = self.runtime.gather((self.rng.bit_generator.state, ck.random_state(self.method)))
        if not self.runtime.is_main:
            return
        meta = {"progress": self.state.to_json(), "config": recorded(self.cfg)}
        tensors, meta = ck.training_parts(self.method, self.opt, meta, ranks)
        ck.save_checkpoint(self.out / "last.safetensors", tensors, meta)
        self.clock.save()

    def resume(self) -> bool:
        """Continue from ``last.safetensors`` if there is one (never from a pickle). A torn one,
        or one whose ``best.safetensors`` is lost or torn, is not trusted: training starts over
        (and, being seeded, ends with the same weights)."""
        ck.refuse_legacy(self.out / "last.pt")
        path = self.out / "last.safetensors"
        loaded = ck.load_checkpoint(path)
        if loaded is None or not ck.readable(self.out / "best.safetensors"):
            return False
        tensors, meta = loaded
        if meta["config"] != recorded(self.cfg):
            raise FsarError(f"{path} was written with another training config; delete it")
        world, rank = meta.get("world", 1), self.runtime.rank
        if world != self.runtime.world:
            raise FsarError(
                f"{path} was written by {world} process(es), this run has "
                f"{self.runtime.world}; resume with as many, or delete it"
            )
        rng = ck.restore_training(self.method, self.opt, tensors, meta, rank)
        self.method.to(self.device)
        self.rng.bit_generator.state = rng
        self.state = TrainingState(**meta["progress"])
        self.clock.restore()
        return True

    # --- training ---------------------------------------------------------------------------
    def draw_batch(
        self, n: int, rng: np.random.Generator | None = None
    ) -> tuple[list[str], list[int] | None]:
        """``n`` episodes' video ids (each episode: its ``S`` support, then ``Q`` query ids) and
        one training view per video (``None`` for a store without views), drawn from ``rng``
        (default: the trainer's generator)."""
        rng = rng or self.rng
        ids: list[str] = []
        views: list[int] = []
        for _ in range(n):
            sup, _, qry, _ = draw_training_episode(
                rng, self.by_class, self.way, self.shot, self.cfg.query
            )
            ids += sup + qry
            if self.data.views:
                views += rng.integers(0, self.data.views, len(sup) + len(qry)).tolist()
        return ids, views if self.data.views else None

    def train_batch(self, n: int) -> float:
        """Forward and backward of ``n`` episodes drawn from this rank's generator (mean loss);
        no optimiser step."""
        return self.backward(*self.draw_batch(n))

    def backward(self, ids: list[str], views: list[int] | None) -> float:
        """Forward and backward of the episodes of ``ids`` (as :meth:`draw_batch` lays them out);
        under ``torchrun`` the gradients are averaged over the ranks. Returns this rank's loss.
        A loader with ``prefetch`` is told the next batch of this size (same draw on a copied
        generator) once the current one is loaded."""
        s, q = len(self.sup_lab), len(self.qry_lab)
        n = len(ids) // (s + q)
        x = self.data.load(ids, views).to(self.device)  # [n * (S + Q), T, ...]
        if self.data.prefetch:
            self.data.prefetch(*self.draw_batch(n, copy.deepcopy(self.rng)))
        loss = self.net(x, self.sup_lab.expand(n, s), self.qry_lab.expand(n, q), self.way)
        loss.backward()
        return float(loss.detach())

    def train_step(self, n: int) -> float:
        """Forward and backward of ``n`` episodes in batches of ``batch`` (the last may be
        smaller); the gradients become those of the mean of the batch means, which is returned.
        No optimiser step."""
        sizes = [min(self.cfg.batch, n - lo) for lo in range(0, n, self.cfg.batch)]
        loss = float(np.mean([self.train_batch(m) for m in sizes]))
        if len(sizes) > 1:
            for group in self.opt.param_groups:
                for prm in group["params"]:
                    if prm.grad is not None:
                        prm.grad.div_(len(sizes))
        return loss

    def validate(self) -> float | None:
        """Mean accuracy (percent) on the validation manifest; the model stays on its device.
        ``None`` without a validation manifest (``--select last``)."""
        data = self.data
        if data.val_manifest is None:  # select "last": every checkpoint replaces "best"
            return None
        return evaluate(
            self.method, data.val_manifest, data.val_load, device=self.device, runtime=self.runtime
        ).accuracy

    def _checkpoint(self, losses: list[float]) -> None:
        """Validate, record, keep the best weights, apply the plateau rule, save (rank 0; the
        others wait). The recorded loss is the mean over all ranks' episodes."""
        p = self.state
        acc = self.validate()
        lr = self.opt.param_groups[0]["lr"]
        loss = float(np.mean(self.runtime.gather(float(np.mean(losses)))))
        threads = torch.get_num_threads()  # the float rounding, hence the weights, depend on it
        p.history.append({"step": p.step, "loss": loss, "val": acc, "lr": lr, "threads": threads})
        if not all(bool(torch.isfinite(t).all()) for t in self.method.state_dict().values()):
            self._finite(float("nan"), p.step)  # diverged weights: keep the last checkpoint
        if after_validation(self.cfg, p, acc, 100.0 / self.way) and self.runtime.is_main:
            ck.save_weights(self.out / "best.safetensors", self.method)
        self.save()
        self.runtime.barrier()

    def _finite(self, loss: float, step: int) -> float:
        """``loss``, or a one-line error when it (on any rank) is not finite: the training
        stops, its last checkpoint (the last good one) is kept."""
        if all(map(math.isfinite, self.runtime.gather(loss))):
            self.last_loss = loss
            return loss
        raise FsarError(
            f"training diverged at episode {step}: loss {loss} (last finite loss "
            f"{self.last_loss}); the last good checkpoint in {self.out} is kept; lower "
            "train.lr or check the method's settings"
        )

    def fit(self, progress: Callable[[int, int, float, float], None] | None = None) -> float:
        """Train (resuming if possible) until the plateau rule or the budget stops it.

        Returns:
            The best validation accuracy (percent).
        """
        self.resume()
        cfg, p, world = self.cfg, self.state, self.runtime.world
        losses: list[float] = []
        while not p.stop:
            self.method.train()
            n = min(cfg.batch * cfg.accumulate, -(-(cfg.episodes - p.step) // world))  # per rank
            for group in self.opt.param_groups:
                group["lr"] = learning_rate(cfg, p)
            losses.append(self._finite(self.train_step(n), p.step + n * world))
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
            before, p.step = p.step, p.step + n * world  # episodes of all ranks
            if p.step // cfg.val_every > before // cfg.val_every or p.step >= cfg.episodes:
                self._checkpoint(losses)
                losses = []
            if progress:
                last = p.history[-1]["val"] if p.history else None
                last = float("nan") if last is None else last
                progress(p.step, cfg.episodes, losses[-1] if losses else 0.0, last)
        return p.best


def load_best(method: FewShotMethod, out_dir: Path) -> FewShotMethod:
    """Load the validation-selected weights into ``method`` (one-line error if unreadable)."""
    return ck.load_weights(out_dir / "best.safetensors", method)
