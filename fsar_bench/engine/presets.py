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
  TA2N (``train_presets``): ``E = 4``, validation every 250 episodes on 500 episodes, ``min_delta
  = 2``, at most 6,000 episodes (its episodes cost 10-100 times those of the pooled methods).
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

Why these values (synthetic-mid, measured with ``E = 16``, lr 1e-3, one thread; the learning
curves are in the report). Validation accuracy keeps rising for 6,000-12,000 episodes (OTAM
5-way 1-shot: 23, 33, 42, 48, 50, 51 % at 1,000-6,000; TRN++ stays at chance for 3,000 and
reaches 64 % at 12,000); lr 3e-3 or 1e-2 did not learn faster (ProtoNet, OTAM) and left TRN++ at
chance for 5,000 episodes. At a constant rate successive validations of one training differ by
more than the noise (OTAM 1-shot at 11,000 and 12,000 episodes: 53.1 and 50.9 %, paired
difference 2.2 ± 1.2 points on the same 1,000 episodes); dividing the rate by 10 there settles
it and gains (OTAM 1-shot 53.2 % flat over 3 more validations, TRN++ 1-shot 64.4 -> 66.6 %).

Validation size. A 5-way episode with one query per class has a per-episode accuracy standard
deviation of about ``s = 20`` points (from the 1,000-episode tables: ``ci95 ~ 1.25``). The 95%
half-width of ``n`` episodes is ``1.96 s / sqrt(n)``: 1.24 points for 1,000, 0.88 for 2,000
(below ``min_delta = 1``, so an improvement of 1 point is resolved), 1.75 for TA2N's 500
(below its ``min_delta = 2``). A validation costs 0.2-3 s of one core for the pooled methods
at 2,000 episodes and 14-21 s for TA2N at 500, hence TA2N's smaller manifest.

TA2N's method preset. ``centre``, ``scale=0.3`` and ``learn_scale`` (see
:mod:`fsar_bench.methods.ta2n_config`) keep the distance from collapsing on frozen features. With
the official distance the training loss stays at ``5 ln 5 = 8.05`` and TA2N stays at chance.
``kshot_align=false`` averages the shots instead of the official k-shot alignment, which does
not transfer on frozen features (5-shot on synthetic-mid: 31.0 % with it, 59.4 % without,
paired +28.4 +- 1.6 points, both at 1,500 episodes).
TA2N's ``train_presets``: a ceiling of 6,000 episodes. With 1,500 the budget stopped every TA2N
training while it still improved (synthetic-mid 1-shot validation 23.5, 27.5, 34.7, 34.6,
37.8, 39.6 % at 250-1,500 episodes). Training now convolves only what each episode's pairs
need (:meth:`~fsar_bench.methods.ta2n_sc.SCStage.complete_halves`; 0.13 s per 1-shot and 0.26 s
per 5-shot episode on two threads, from 0.17 and 0.47), and the plateau rule stops it at
2,250-2,750 episodes. Default run, synthetic-mid (validation %, loss summed over 5 queries;
``*`` at the reduced rate): 1-shot 25.1, 31.2, 34.7, 34.7, 37.7, 31.5, 39.0, 41.1*, 41.4*,
42.2* at 250-2,500, loss 8.24 -> 6.18, test 43.2 %; 5-shot 36.3, 46.1, 51.0, 49.7, 49.3,
54.2*, 56.6*, 55.8*, 56.7* at 250-2,250, loss 7.44 -> 3.48, test 64.9 % (the all-stages-off
ablation under the same engine: 62.1 %, plateau at 2,000; paired +2.8 +- 1.3 points).
These TA2N trainings ran on one thread. The default run on two threads (other float rounding;
fresh clone, stop 22) stopped TA2N on its plateau at 2,252 episodes with test 33.7 % (1-shot,
loss 6.45) and 65.8 % (5-shot, loss 3.23); ``--set train.seed=1`` / ``2`` on the same test
episodes gave 34.5 / 42.6 % (1-shot) and 68.1 % (5-shot, seed 1). TA2N's results carry a
training variance (standard deviation over trainings 4.9 points at 1-shot, 1.6 over the two
5-shot trainings; ProtoNet 1-shot 0.1) that the test interval (+-1.2-1.3) does not show; the
rule reacts to single noisy 500-episode validations (train.seed 1 dropped its rate at 1,000
episodes, after 33.8, 35.4, 34.0 %).
The whole default run does not fit 15 minutes on this 2-core machine: from a fresh clone it took
49:44 (features 7:04; the pooled methods' trainings 1,012 s, each stopped on its plateau at
9,000-12,000 episodes, their engine at 0.65-1.0 of their forward+backward floor; TA2N's 1,461 s).
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
