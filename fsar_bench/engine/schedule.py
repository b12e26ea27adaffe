"""Training settings, the learning-rate schedule and the plateau rule that stops a training.

Every ``val_every`` episodes the model is validated (mean accuracy in percent on a fixed
manifest of the validation split). A validation *improves* when it beats the reference, the
accuracy of the last improvement, by at least ``min_delta`` points; ``patience`` validations
in a row without improvement make a *plateau*. With ``schedule="plateau"`` (reduce on
plateau) a plateau multiplies the learning rate by ``lr_factor``, up to ``lr_drops`` times, and
the next plateau stops the training: it has converged at its smallest learning rate. With
``"cosine"`` (learning rate ``lr * (1 + cos(pi * step / episodes)) / 2``, annealed over the
budget) or ``"constant"`` the first plateau stops it. ``episodes`` is the maximum budget; a
training that reaches it stops with the reason ``"budget"``. No plateau is counted while every
validation so far is within :data:`CHANCE_MARGIN` of chance (:func:`after_validation`).

Weights are selected separately: the best validation accuracy so far (strictly higher) is kept,
whether or not it counted as an improvement.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from fsar_bench.errors import require

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("plateau", "cosine", "constant")
#: Points above chance a validation must reach before a plateau can be counted: about the 95 %
#: half-width of the quick preset's validation at chance (2,000 5-way episodes of one query per
#: class: 1.96 * 20 / sqrt(2000) = 0.88 points).
CHANCE_MARGIN = 1.0


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Training settings (override with ``--set train.FIELD=VALUE``).

    Attributes:
        episodes: maximum training episodes (the budget; the papers train ~10^4-10^5).
        batch: episodes per forward pass ``E`` (TA2N's code accumulates 16 single-episode
            gradients, which is the same mean loss as ``batch=16``).
        accumulate: forward passes per optimiser step (gradient accumulation): a step is the
            mean of ``accumulate`` batch means (``accumulate * batch`` episodes). For the
            fine-tuned track, whose episodes do not fit in memory at once. Recorded in configs
            only when above 1 (:func:`recorded`), so frozen run ids did not change.
        optimizer: ``"adam"`` or ``"sgd"``. lr, momentum, weight_decay: optimiser settings.
        schedule: ``"plateau"``, ``"cosine"`` or ``"constant"`` (module docstring).
        lr_factor, lr_drops: learning-rate reduction at a plateau, and how many before a
            plateau stops the training (``schedule="plateau"`` only).
        patience: validations without an improvement of ``min_delta`` that make a plateau;
            0 (default, the papers' fixed budgets): no plateau rule, the budget stops training.
        min_delta: the smallest improvement (percentage points of validation accuracy).
        query: queries per class in a training episode.
        val_every: episodes between validations (and checkpoints).
        val_episodes: size of the fixed validation manifest.
        seed: the training seed: the episode generator, and in ``fsar-bench run`` also the
            model initialisation and dropout (default: the run's ``--seed``).
    """

    episodes: int = 1000
    batch: int = 1
    accumulate: int = 1
    optimizer: str = "adam"
    lr: float = 1e-4
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    lr_factor: float = 0.1
    lr_drops: int = 0
    patience: int = 0
    min_delta: float = 0.0
    query: int = 1
    val_every: int = 250
    val_episodes: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        checks = (
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}"),
            (
                min(
                    self.episodes,
                    self.batch,
                    self.accumulate,
                    self.query,
                    self.val_every,
                    self.val_episodes,
                )
                >= 1,
                "episodes, batch, accumulate, query, val_every and val_episodes must be >= 1",
            ),
            (min(self.patience, self.lr_drops) >= 0, "need patience >= 0 and lr_drops >= 0"),
            (0 <= self.seed < 2**32, "seed must be in 0..2^32-1"),
            (
                all(map(math.isfinite, (self.lr, self.momentum, self.weight_decay))),
                "lr, momentum and weight_decay must be finite",
            ),
            (self.lr > 0 and self.weight_decay >= 0, "need lr > 0 and weight_decay >= 0"),
            (
                0 < self.lr_factor < 1 and self.min_delta >= 0,
                "need 0 < lr_factor < 1 and min_delta >= 0",
            ),
        )
        require(checks, "training settings (train.*)")


def recorded(cfg: TrainConfig) -> dict:
    """``asdict(cfg)`` as run configs and checkpoints record it: ``accumulate`` only when above 1
    (it came later; configs without it keep their hashes)."""
    out = asdict(cfg)
    if out["accumulate"] == 1:
        del out["accumulate"]
    return out


def make_optimizer(params: list, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam or SGD; the fused kernels where the device has them (CPU, CUDA)."""
    fused = True if device.type in ("cpu", "cuda") else None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=fused
        )
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


@dataclass(kw_only=True)
class TrainingState:
    """A training's position, saved in every checkpoint (JSON).

    Attributes:
        step: episodes trained. best: best validation accuracy (the selected weights).
        ref: accuracy of the last improvement by ``min_delta`` (``None`` before the first).
        bad: validations since then. drops: learning-rate reductions so far.
        stop: ``""`` while training, then ``"plateau"`` or ``"budget"``.
        history: one entry per validation: ``step``, ``loss`` (mean training loss since the
            previous validation), ``val`` (accuracy, percent), ``lr``.
    """

    step: int = 0
    best: float = -1.0
    ref: float | None = None
    bad: int = 0
    drops: int = 0
    stop: str = ""
    history: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def learning_rate(cfg: TrainConfig, p: TrainingState) -> float:
    """The learning rate of the next optimiser step."""
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(p.step, cfg.episodes) / cfg.episodes))
    if cfg.schedule == "plateau":
        return cfg.lr * cfg.lr_factor**p.drops
    return cfg.lr


def after_validation(
    cfg: TrainConfig, p: TrainingState, acc: float | None, chance: float | None = None
) -> bool:
    """Apply the plateau rule to a validation accuracy; returns whether it is a new best.

    Sets ``p.stop`` when the training is over (plateau, or the budget is spent). ``acc=None``
    (``--select last``, no validation): no plateau rule, every checkpoint is the "best".
    ``chance``: the accuracy of guessing (``100 / way``; ``None``: no chance clause). A training
    whose validations have all stayed below ``chance + CHANCE_MARGIN`` has not started to learn
    (TRN++ sits there for thousands of episodes before it climbs), so no plateau is counted yet:
    it runs on, to the budget if it never leaves chance.
    """
    if acc is None:
        p.stop = "budget" if p.step >= cfg.episodes else ""
        return True
    if p.ref is None or acc >= p.ref + cfg.min_delta:
        p.ref, p.bad = acc, 0
    else:
        p.bad += 1
    if chance is not None and max(p.best, acc) < chance + CHANCE_MARGIN:
        p.bad = 0
    if cfg.patience and p.bad >= cfg.patience:
        if cfg.schedule == "plateau" and p.drops < cfg.lr_drops:
            p.drops, p.bad = p.drops + 1, 0
        else:
            p.stop = "plateau"
    if not p.stop and p.step >= cfg.episodes:
        p.stop = "budget"
    new_best = acc > p.best
    p.best = max(p.best, acc)
    return new_best
