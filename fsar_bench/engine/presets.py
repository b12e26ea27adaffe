"""Run presets: named training recipes, and how a run's method and training configs resolve.

Values apply in this order, later ones winning: the dataclass defaults (the authors' code),
the preset's ``train`` values, the preset's values in the method's registry entry
(:attr:`~fsar_bench.methods.registry.MethodInfo.presets` and ``train_presets``), then the user's
``--set SECTION.FIELD=VALUE``. Every resolved value is recorded in the run's ``config.json``.

* ``quick`` (CPU default, NOT the papers' recipes): a convergence budget. Adam (lr 1e-3) on
  batches of ``E = 16`` episodes; validation every 1,000 episodes on 2,000 fixed validation
  episodes; reduce on plateau: after ``patience = 2`` validations without an improvement of
  ``min_delta = 1`` point the learning rate is divided by 10, once, and the next plateau stops
  the training (it converged at the small rate); 20,000 episodes are the maximum budget, which
  the plateau rule is meant to beat (``stop_reason`` in every summary says which stopped it).
  TA2N (``train_presets``): ``E = 4``, validation every 500 episodes on 1,000 episodes,
  ``min_delta = 2``, at most 10,000 episodes (its episodes cost far more than the pooled
  methods'; see ``docs/presets.md``).
* ``paper``: the papers' / official code's optimiser recipes and fixed budgets (no plateau
  rule; meant for a GPU).

Fine-tuned track (``--finetune``, :mod:`fsar_bench.engine.finetune`). The run asks for the
recipe ``<preset>+finetune``: on top of the frozen layers above (the preset's values, then the
method's ``presets[<preset>]`` / ``train_presets[<preset>]``) come :data:`FINETUNE`'s values for
the preset, then the method's ``presets["<preset>+finetune"]`` and
``train_presets["<preset>+finetune"]``, then ``--set``.

* ``quick+finetune``: tiny, for CPU checks (Adam 1e-4, batches of 2 episodes, 40 episodes,
  validation every 20 on 50 episodes); not a recipe that converges.
* ``paper+finetune``: the official code's recipe (TA2N's repository, whose runner trains its
  ProtoNet, OTAM and TA2N models the same way; TRN++ has no few-shot code and gets the same):
  SGD lr 1e-3 without momentum, 16 single-episode gradients accumulated per step, 5 queries
  per class in training, 100,000 episodes (code: 100,020), validation every 500 episodes (code:
  on 3,000 *test* tasks; here on 1,000 validation episodes), constant rate (the code's StepLR of
  step 10^6 never decays within the budget), TA2N dropout 0.5 (its config default). ProtoNet,
  OTAM and TRN++ drop the frozen track's frame adapter (the backbone is trained; the code has
  none). ITA/RVN: the ITA paper's SGD lr 1e-5 and 18,000 episodes; its decay (x0.1 every 12,000
  episodes) is not available here (constant rate).
* Papers where they differ from the code: TA2N's paper uses SGD momentum 0.9 with per-dataset
  step decays over 200-600 epochs of 200 episodes; OTAM's paper SGD lr 1e-3 decayed x0.1 every
  30 epochs with early stopping on validation. Set them with ``--set train.*``.

Why these values: each was chosen from measured learning curves, validation costs and
TA2N's behaviour on frozen features; the measurements, with their date, commit and machine, are
in ``docs/presets.md``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from fsar_bench.engine.overrides import apply
from fsar_bench.engine.train import TrainConfig
from fsar_bench.errors import FsarError
from fsar_bench.methods import MethodInfo
from fsar_bench.registry import load

Sets = dict[str, dict[str, str]]  # section -> field -> raw value (``--set``)

PRESETS: dict[str, dict[str, str]] = {
    "quick": {
        "episodes": "20000",
        "batch": "16",
        "optimizer": "adam",
        "lr": "1e-3",
        "schedule": "plateau",
        "lr_factor": "0.1",
        "lr_drops": "1",
        "patience": "2",
        "min_delta": "1.0",
        "val_every": "1000",
        "val_episodes": "2000",
    },
    "paper": {
        "episodes": "20000",
        "optimizer": "sgd",
        "lr": "1e-3",
        "momentum": "0.9",
        "val_every": "1000",
        "val_episodes": "1000",
    },
}


FINETUNE_SUFFIX = "+finetune"

FINETUNE: dict[str, dict[str, str]] = {
    "quick": {
        "episodes": "40",
        "batch": "2",
        "accumulate": "1",
        "optimizer": "adam",
        "lr": "1e-4",
        "schedule": "constant",
        "lr_drops": "0",
        "patience": "0",
        "min_delta": "0",
        "query": "1",
        "val_every": "20",
        "val_episodes": "50",
    },
    "paper": {
        "episodes": "100000",
        "batch": "1",
        "accumulate": "16",
        "optimizer": "sgd",
        "lr": "1e-3",
        "momentum": "0",
        "schedule": "constant",
        "query": "5",
        "val_every": "500",
        "val_episodes": "1000",
    },
}


def recipe(preset: str, finetune: bool) -> str:
    """The preset key a run resolves: ``preset`` or ``preset + "+finetune"``."""
    return preset + FINETUNE_SUFFIX if finetune else preset


def _layers(table: dict[str, dict[str, str]], preset: str) -> list[dict[str, str]]:
    """A table's values for ``preset`` (``base`` or ``base+finetune``: base's, then its own)."""
    base = preset.removesuffix(FINETUNE_SUFFIX)
    return [table.get(base, {})] + ([table.get(preset, {})] if base != preset else [])


def check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise FsarError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")


def method_settings(info: MethodInfo, preset: str, user: Sets, shot: int | None = None) -> Any:
    """The method's config: defaults, then the preset's values, then the user's ``--set``.

    A method without a config (a plugin class naming no ``config_class``) gets an empty one.
    With ``shot`` and an entry that names a ``shots_field``, that field is set to ``shot``
    unless the user set it (TA2N embeds only what that K needs).
    """
    mine = user.get(info.name, {})
    values = {k: v for layer in _layers(info.presets, preset) for k, v in layer.items()} | mine
    config = load(info.config)()
    if values and not dataclasses.fields(config):
        raise FsarError(
            f"--set {info.name}.{next(iter(values))}: method {info.name!r} takes no "
            "config (its class names no config_class)"
        )
    config = apply(config, values, info.name)
    if shot is not None and info.shots_field and info.shots_field not in mine:
        config = dataclasses.replace(config, **{info.shots_field: shot})
    return config


def train_config(info: MethodInfo | None, preset: str, user: Sets, seed: int) -> TrainConfig:
    """Training config: the preset's, then the method's ``train_presets``, then ``--set train.*``.

    ``info=None`` gives the method-independent config (e.g. the validation manifest's size).
    ``preset`` may be ``<preset>+finetune`` (:func:`recipe`; order in the module docstring).
    """
    cfg = TrainConfig(seed=seed)
    base = preset.removesuffix(FINETUNE_SUFFIX)
    mine = _layers(info.train_presets, base) if info else []
    tuned = [FINETUNE[base], *(_layers(info.train_presets, preset)[1:] if info else [])]
    layers = [PRESETS[base], *mine, *(tuned if base != preset else []), user.get("train", {})]
    for values in layers:
        cfg = apply(cfg, values, "train")
    return cfg
