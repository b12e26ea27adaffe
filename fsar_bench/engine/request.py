"""What ``fsar-bench run`` is asked for (:class:`RunRequest`) and its check before any work."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsar_bench.engine.presets import Sets, check_preset, method_settings, recipe, train_config
from fsar_bench.engine.schedule import TrainConfig
from fsar_bench.engine.select import parse_select
from fsar_bench.errors import FsarError, require
from fsar_bench.methods import METHODS, MethodInfo
from fsar_bench.seeds import SEED_MAX


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What ``fsar-bench run`` was asked for (every field reaches the recorded config).

    Attributes:
        methods: registry names. shots: K of each setting. way: N.
        protocol: evaluation protocol (``fsar-bench ls protocols``); ``episodes`` overrides its
            number of test episodes.
        seed: test manifests (validation: ``seed + 1``), and the training seed unless
            ``--set train.seed=S`` (training episodes, initialisation, dropout) sets it apart:
            retrainings on identical test and validation episodes.
        backbone, size, frames: the features (frozen backbone, input side, frames per video).
        weights: the backbone's weight file (``None``: its default weights).
        maps: extract per-frame spatial maps (``False``: pooled vectors only, a store about
            16 times smaller; only for runs whose methods are all pooled).
        views: sampled views per training video in the feature cache (``None``: the
            extraction default, 4); cached features only.
        map_size: maps average-pooled to ``map_size x map_size`` before they are stored
            (``None``: the backbone's own; :class:`~fsar_bench.features.settings.ExtractConfig`).
        preset: run preset (:mod:`fsar_bench.engine.presets`). sets: the user's ``--set``.
        select: model selection, ``val`` | ``last`` | ``holdout:K``
            (:mod:`fsar_bench.engine.select`).
        runs: the results store. device: where training and evaluation run.
        finetune: train the backbone with the method on decoded clips (:mod:`fsar_bench.engine.
            finetune`); workers: their decoding processes (``None``: cores - 1).
        jobs: cells trained at once in processes of one thread each (1: in this process, at
            its threads; ``run`` resolves its default with :func:`fsar_bench.engine.jobs.
            resolve_jobs`). Not in the run config (run ids do not depend on it); summaries
            record it.
        trainings: trainings per cell, with training seeds ``train.seed + 0 .. trainings - 1``
            on the cell's one test manifest (:func:`fsar_bench.engine.cells.plan`). Recorded in
            each summary's ``training``, never in the hashed run config: training ``i`` is the
            run that ``--set train.seed=<train.seed + i>`` makes.
    """

    methods: tuple[str, ...] = ("protonet", "otam", "trn", "ta2n")
    shots: tuple[int, ...] = (1, 5)
    way: int = 5
    protocol: str = "quick"
    episodes: int | None = None
    seed: int = 0
    backbone: str = "efficientnet-lite0"
    size: int | None = None
    frames: int = 8
    weights: str | None = None
    maps: bool = True
    map_size: int | None = None
    views: int | None = None
    preset: str = "quick"
    sets: Sets = field(default_factory=dict)
    select: str = "val"
    runs: Path = Path("runs")
    device: str = "cpu"
    finetune: bool = False
    workers: int | None = None
    jobs: int = 1
    trainings: int = 1

    @property
    def recipe(self) -> str:
        """The preset key this run resolves (``<preset>+finetune`` when fine-tuning)."""
        return recipe(self.preset, self.finetune)

    def __post_init__(self) -> None:
        checks = (
            (bool(self.methods) and bool(self.shots), "give at least one method and one shot"),
            (min(self.shots, default=1) >= 1, "shots must be >= 1"),
            (self.way >= 2, "way must be >= 2"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.episodes is None or self.episodes >= 1, "episodes must be >= 1"),
            (self.frames >= 1, "frames must be >= 1"),
            (self.jobs >= 1, "jobs must be >= 1"),
            (self.trainings >= 1, "trainings must be >= 1"),
            (self.views is None or self.views >= 1, "views must be >= 1"),
        )
        require(checks, "run")
        parse_select(self.select)


@dataclass(frozen=True, kw_only=True)
class Resolved:
    """One method's configs for one shot, resolved from the preset and ``--set``.

    Attributes:
        info: the registry entry. method_config: its config dataclass. train: the training
            config (:class:`~fsar_bench.engine.schedule.TrainConfig`).
    """

    info: MethodInfo
    method_config: Any
    train: TrainConfig


def check_request(req: RunRequest) -> dict[tuple[str, int], Resolved]:
    """Resolve every (method, shot)'s configs, once, before any work: a bad ``--set`` fails at
    once. Keys: ``(method name, shot)``, in request order."""
    check_preset(req.preset)
    infos = [METHODS.get(m) for m in req.methods]
    spatial = [i.name for i in infos if i.input_kind != "pooled"]
    if not req.maps and spatial:
        raise FsarError(
            f"{spatial[0]} reads spatial maps; pooled-only features serve only "
            "pooled methods (protonet, otam, trn...)"
        )
    if req.finetune and req.views:
        raise FsarError(
            "--views sets the training views of the feature cache; the fine-tuned track "
            "draws its own clips (drop --views or --finetune)"
        )
    resolved = {
        (info.name, shot): Resolved(
            info=info,
            method_config=method_settings(info, req.recipe, req.sets, shot=shot),
            train=train_config(info, req.recipe, req.sets, req.seed),
        )
        for shot in req.shots
        for info in infos
    }
    last = max(r.train.seed for r in resolved.values()) + req.trainings - 1
    if last > SEED_MAX:
        raise FsarError(
            f"--trainings {req.trainings}: training seed {last} is above {SEED_MAX}; "
            "lower train.seed or --trainings"
        )
    return resolved
