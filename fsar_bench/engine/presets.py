"""Run presets: named training recipes, and how a run's method and training configs resolve.

Values apply in this order, later ones winning: the dataclass defaults (the authors' code),
the preset's ``train`` values, the preset's values in the method's registry entry
(:attr:`~fsar_bench.methods.registry.MethodInfo.presets` and ``train_presets``), then the user's
``--set SECTION.FIELD=VALUE``. Every resolved value is recorded in the run's ``config.json``.

* ``quick`` (CPU default, NOT a paper budget): Adam, a CPU episode budget.
* ``paper``: the papers' / official code's optimiser recipes (budgets meant for a GPU).
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
    "quick": {"episodes": "600", "optimizer": "adam", "lr": "1e-3", "val_every": "200"},
    "paper": {
        "episodes": "20000",
        "optimizer": "sgd",
        "lr": "1e-3",
        "momentum": "0.9",
        "val_every": "1000",
        "val_episodes": "1000",
    },
}


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
    values = {**info.presets.get(preset, {}), **mine}
    config = load(info.config)()
    if values and not dataclasses.fields(config):
        raise FsarError(f"--set {info.name}.{next(iter(values))}: method {info.name!r} takes no "
                        "config (its class names no config_class)")  # fmt: skip
    config = apply(config, values, info.name)
    if shot is not None and info.shots_field and info.shots_field not in mine:
        config = dataclasses.replace(config, **{info.shots_field: shot})
    return config


def train_config(info: MethodInfo | None, preset: str, user: Sets, seed: int) -> TrainConfig:
    """Training config: the preset's, then the method's ``train_presets``, then ``--set train.*``.

    ``info=None`` gives the method-independent config (e.g. the validation manifest's size).
    """
    cfg = TrainConfig(seed=seed)
    mine = info.train_presets.get(preset, {}) if info else {}
    for values in (PRESETS[preset], mine, user.get("train", {})):
        cfg = apply(cfg, values, "train")
    return cfg
