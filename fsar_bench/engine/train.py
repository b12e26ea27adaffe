"""Episodic training on cached features, with validation-split model selection and resume.

* Training episodes are drawn from the train split with a ``numpy.random.Generator`` owned by the
  trainer (its state is checkpointed, so a resumed run draws the same episodes as an unbroken
  one). Each video contributes one of its cached training views, also drawn from that generator.
* Every ``val_every`` episodes the model is evaluated on a fixed, seeded manifest of the
  **validation** split; the best weights by validation accuracy are kept. The test split is never
  looked at during training.
* ``last.pt`` (model, optimiser, step, generator state, history) is written at every validation,
  so an interrupted training continues from there; ``best.safetensors`` holds the selected weights.

Optimiser defaults follow the papers where the CPU budget allows (see ``TrainConfig``); the
number of episodes is much smaller than the papers' (TA2N: ~100,000 with a fine-tuned backbone)
because the suite trains on frozen cached features on CPU by default. This is stated in every
summary.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from fsar_bench.data.index import SplitIndex
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.episodes.draw import draw_episode
from fsar_bench.episodes.manifest import Manifest
from fsar_bench.errors import FsarError
from fsar_bench.methods.base import FewShotMethod

# (video ids, view per video or None for the test-time view) -> float32 features [V, T, ...]
ViewLoader = Callable[[list[str], list[int] | None], torch.Tensor]


OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training settings (override with ``--set train.FIELD=VALUE``).

    Attributes:
        episodes: training episodes (CPU default; the papers train for ~10^4-10^5).
        optimizer: ``"adam"`` or ``"sgd"``.
        lr, momentum, weight_decay: optimiser settings.
        accumulate: episodes per optimiser step (TA2N code: 16).
        query: queries per class in a training episode.
        val_every: episodes between validations (and checkpoints).
        val_episodes: size of the fixed validation manifest.
        seed: seeds the episode generator and the model initialisation.
    """

    episodes: int = 1000
    optimizer: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    accumulate: int = 1
    query: int = 1
    val_every: int = 250
    val_episodes: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (min(self.episodes, self.accumulate, self.query, self.val_every) >= 1,
             "episodes, accumulate, query and val_every must be >= 1"),
            (self.val_episodes >= 1, "val_episodes must be >= 1"),
            (self.lr > 0 and self.weight_decay >= 0, "need lr > 0 and weight_decay >= 0"),
        )  # fmt: skip
        problems = [message for ok, message in checks if not ok]
        if problems:
            raise FsarError(f"invalid training settings (train.*): {'; '.join(problems)}")


def _optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; choose adam or sgd")


@dataclass(frozen=True, kw_only=True)
class TrainData:
    """What a trainer reads: the train split's views and the validation manifest.

    Attributes:
        index: the train split (classes with no video are ignored).
        views: cached training views per video (0: one deterministic clip per video).
        load: ``load(ids, views)`` -> float32 features ``[V, T, ...]`` of the train split.
        val_manifest: fixed, seeded episodes of the **validation** split; ``None`` (``--select
            last``): no validation, the final weights are kept as ``best.safetensors``.
        val_load: ``val_load(ids)`` -> features of the validation manifest's videos.
        way, shot: the episodes' shape (training queries per class: ``TrainConfig.query``).
    """

    index: SplitIndex
    views: int
    load: ViewLoader
    val_manifest: Manifest | None
    val_load: Callable[[list[str]], torch.Tensor] | None
    way: int = 5
    shot: int = 1


def draw_training_episode(
    rng: np.random.Generator, by_class: dict[str, list], way: int, shot: int, query: int
) -> tuple[list[str], np.ndarray, list[str], np.ndarray]:
    """One training episode (the manifests' draw): support ids ``[N*K]``, labels, query ids
    ``[N*Q]``, labels."""
    _, sup, qry = draw_episode(rng, by_class, way, shot, query)
    sup_lab = np.repeat(np.arange(way), shot)
    qry_lab = np.repeat(np.arange(way), query)
    return (
        [v.video_id for s in sup for v in s],
        sup_lab,
        [v.video_id for q in qry for v in q],
        qry_lab,
    )


class Trainer:
    """Trains one method for one (way, shot) setting; see the module docstring."""

    def __init__(
        self,
        method: FewShotMethod,
        cfg: TrainConfig,
        data: TrainData,
        *,
        out_dir: Path,
        device: str | torch.device,
    ) -> None:
        self.method, self.cfg, self.data, self.out = method, cfg, data, out_dir
        self.load, self.n_views, self.way, self.shot = data.load, data.views, data.way, data.shot
        self.by_class = {c: v for c, v in data.index.by_class().items() if v}
        self.device = torch.device(device)
        self.opt = _optimizer([p for p in method.parameters() if p.requires_grad], cfg)
        self.rng = np.random.default_rng(cfg.seed)
        self.step, self.best, self.history = 0, -1.0, []

    # --- checkpoints ------------------------------------------------------------------------
    def save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.method.state_dict(),
            "optimizer": self.opt.state_dict(),
            "step": self.step,
            "best": self.best,
            "history": self.history,
            "rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
            "config": asdict(self.cfg),
        }
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "last.pt")

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.is_file():
            return False
        state = torch.load(path, map_location=self.device, weights_only=False)
        if state["config"] != asdict(self.cfg):
            raise ValueError(f"{path} was written with another training config")
        self.method.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.step, self.best, self.history = state["step"], state["best"], state["history"]
        self.rng.bit_generator.state = json.loads(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        return True

    # --- training ---------------------------------------------------------------------------
    def train_episode(self) -> float:
        sup, sup_lab, qry, qry_lab = draw_training_episode(
            self.rng, self.by_class, self.way, self.shot, self.cfg.query
        )
        ids = sup + qry
        views = self.rng.integers(0, self.n_views, len(ids)).tolist() if self.n_views else None
        x = self.load(ids, views).to(self.device)
        s = len(sup)
        out = self.method.episodes(
            x[None, :s],
            torch.as_tensor(sup_lab, device=self.device)[None],
            x[None, s:],
            self.way,
        )
        loss = self.method.loss(out, torch.as_tensor(qry_lab, device=self.device)[None])
        (loss / self.cfg.accumulate).backward()
        return float(loss.detach())

    def validate(self) -> float | None:
        """Mean accuracy (percent) on the validation manifest; the model stays on its device.
        ``None`` without a validation manifest (``--select last``)."""
        data = self.data
        if data.val_manifest is None:  # select "last": every checkpoint replaces "best"
            return None
        return evaluate(self.method, data.val_manifest, data.val_load, device=self.device).accuracy

    def fit(self, progress: Callable[[int, int, float, float], None] | None = None) -> float:
        """Train (resuming if possible); returns the best validation accuracy (percent)."""
        self.resume()
        self.method.to(self.device)
        losses: list[float] = []
        while self.step < self.cfg.episodes:
            self.method.train()
            losses.append(self.train_episode())
            self.step += 1
            if self.step % self.cfg.accumulate == 0:
                self.opt.step()
                self.opt.zero_grad(set_to_none=True)
            if self.step % self.cfg.val_every == 0 or self.step == self.cfg.episodes:
                acc = self.validate()
                self.history.append({"step": self.step, "loss": float(np.mean(losses)), "val": acc})
                losses = []
                if acc is None or acc > self.best:
                    self.best = self.best if acc is None else acc
                    self.out.mkdir(parents=True, exist_ok=True)
                    save_file(
                        {k: v.contiguous() for k, v in self.method.state_dict().items()},
                        str(self.out / "best.safetensors"),
                    )
                self.save()
            if progress:
                last = self.history[-1]["val"] if self.history else None
                last = float("nan") if last is None else last
                progress(self.step, self.cfg.episodes, losses[-1] if losses else 0.0, last)
        return self.best


def load_best(method: FewShotMethod, out_dir: Path) -> FewShotMethod:
    """Load the validation-selected weights into ``method``."""
    method.load_state_dict(load_file(str(out_dir / "best.safetensors")))
    return method
