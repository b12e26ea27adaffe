"""Settings of the TSM probes (see :mod:`fsar_bench.analysis.probe.trained`): what is hashed into a
probe's folder key, the videos it knows, and the summary of a trained probe (``aem.json``'s
``probe``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsar_bench.data.datasets import SPLITS
from fsar_bench.errors import require
from fsar_bench.results.record import JsonRecord

INPUTS = ("diff", "raw")
MODES = {
    "feature-tsm": "feature-tsm: temporal-shift blocks + per-frame classifier trained on frozen "
    "cached {backbone} maps (CPU mode; NOT the full TSM, which fine-tunes ResNet-50 end to end)",
    "tsm-resnet50": "tsm-resnet50: full TSM, ResNet-50 with residual temporal shift fine-tuned "
    "end to end on frames from ImageNet weights",
}
NO_FLIP_PREFIXES = ("ssv2", "synthetic")
MODE_OPTIMIZER = {"feature-tsm": "adamw", "tsm-resnet50": "sgd"}
# optimizer -> (lr, weight decay); sgd: TSM's scripts/train_tsm_kinetics_rgb_8f.sh
OPTIMIZER_DEFAULTS = {"adamw": (0.01, 0.05), "sgd": (0.02, 1e-4)}


@dataclass(frozen=True, kw_only=True)
class ProbeConfig:
    """Probe settings (``--set probe.FIELD=VALUE``); all of them are hashed into the folder key.

    Attributes:
        mode: ``"feature-tsm"`` or ``"tsm-resnet50"``.
        epochs, batch, momentum, grad_clip, dropout: training (see module).
        optimizer: ``"adamw"`` or ``"sgd"`` (TSM's, with ``momentum``); ``None``: the mode's
            (:data:`MODE_OPTIMIZER`).
        lr, weight_decay: ``None``: the optimizer's (:data:`OPTIMIZER_DEFAULTS`).
        width, hidden, blocks: channels after the learned reduction of the cached features,
            bottleneck width and number of the shift blocks (``feature-tsm``).
        inputs: ``"diff"`` (frame differences of the cached features) or ``"raw"``
            (``feature-tsm``).
        every_view: each epoch reads every cached training view of a train-split video instead
            of one random view (``feature-tsm``).
        size: input side in pixels (``tsm-resnet50``; TSM: 224).
        seed: seeds the video split, the clip plans and the initialisation.
        score_splits: splits whose videos are split into training and scored halves.
        score_fraction: share of each class's videos (of ``score_splits``) that is scored.
        score_trained: train on every video and score those of ``score_splits`` too (in-sample,
            stated in every output) instead of holding the scored ones out.
        flip: ``"auto"``, ``"yes"`` or ``"no"``: random flips of training clips.
        weights: ResNet-50 state dict for ``tsm-resnet50`` (default: torch's cache).
        random_init: random ResNet-50 weights (tests only).
    """

    mode: str = "feature-tsm"
    epochs: int = 12
    batch: int = 32
    optimizer: str | None = None
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float | None = None
    grad_clip: float = 20.0
    dropout: float = 0.5
    width: int = 64
    hidden: int = 32
    blocks: int = 4
    inputs: str = "diff"
    every_view: bool = True
    size: int = 224
    seed: int = 0
    score_splits: tuple[str, ...] = SPLITS
    score_fraction: float = 0.25
    score_trained: bool = False
    flip: str = "auto"
    weights: str | None = None
    random_init: bool = False

    def __post_init__(self) -> None:
        checks = (
            (self.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
            (
                min(self.epochs, self.batch, self.blocks, self.width, self.hidden) >= 1,
                "epochs, batch, width, hidden and blocks must be >= 1",
            ),
            (set(self.score_splits) <= set(SPLITS), f"score_splits must be among {SPLITS}"),
            (0 < self.score_fraction < 1, "score_fraction must be in (0, 1)"),
            (self.flip in ("auto", "yes", "no"), "flip must be auto, yes or no"),
            (self.optimizer in (None, *OPTIMIZER_DEFAULTS), "optimizer must be adamw or sgd"),
            (self.inputs in INPUTS, f"inputs must be one of {', '.join(INPUTS)}"),
        )
        require(checks, "probe settings")

    def recipe(self) -> tuple[str, float, float]:
        """``(optimizer, lr, weight_decay)``: the values set, else the defaults."""
        name = self.optimizer or MODE_OPTIMIZER[self.mode]
        lr, weight_decay = OPTIMIZER_DEFAULTS[name]
        return (
            name,
            lr if self.lr is None else self.lr,
            weight_decay if self.weight_decay is None else self.weight_decay,
        )

    def flips(self, dataset: str) -> bool:
        """Whether training clips of ``dataset`` may be flipped."""
        if self.flip == "auto":
            return not dataset.startswith(NO_FLIP_PREFIXES)
        return self.flip == "yes"


@dataclass(frozen=True, kw_only=True)
class ProbeVideo:
    """A video the probe knows: its label among all classes; whether it trains and is scored."""

    video_id: str
    class_key: str
    split: str
    label: int
    scored: bool
    trained: bool


@dataclass(frozen=True, kw_only=True)
class ProbeSummary(JsonRecord):
    """What a trained probe is and how well it classifies its scored videos.

    Attributes:
        mode: ``feature-tsm`` or ``tsm-resnet50``. description: the mode's honest name.
        folder: the probe's cache folder. classes: ``K``.
        trained_videos, scored_videos: counts; scored_videos_seen_in_training: scored videos
            it was also trained on (``score_trained``). videos_note: all that in a sentence.
        accuracy_video, accuracy_frame: on the scored videos (fractions).
        epochs: trained. optimizer_lr_weight_decay: :meth:`ProbeConfig.recipe`.
        train_seconds: wall time of the training (``None`` when unknown).
        history: one entry per epoch (``epoch``, ``lr``, ``loss``, ``train_accuracy``,
            ``clips``, ``seconds``), as ``train.json`` records it.
    """

    mode: str
    description: str
    folder: str
    classes: int
    trained_videos: int
    scored_videos: int
    scored_videos_seen_in_training: int
    videos_note: str
    accuracy_video: float
    accuracy_frame: float
    epochs: int
    optimizer_lr_weight_decay: tuple[str, float, float]
    train_seconds: float | None
    history: tuple[dict[str, Any], ...] = ()
