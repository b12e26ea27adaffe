"""A run's plan: one :class:`Cell` per (shot, training, method), every config resolved once.

For every shot one test manifest is drawn (seeded) and shared by every method; one validation
manifest (seed + 1) is used for model selection (the val split, K held-out training classes,
or none; :mod:`fsar_bench.engine.select`). :func:`plan` resolves each method's config and
training config once (:mod:`fsar_bench.engine.presets`) and the run config that is hashed into
the run's folder name; the cells are then trained and evaluated by
:func:`fsar_bench.engine.run.run_cell`.

``RunRequest.trainings = N`` plans N trainings of every (shot, method), with the training seeds
``train.seed + i`` (:func:`training_config`), all on the shot's one test manifest. The index is
not part of the hashed run config: training ``i`` is the very run (folder and checkpoint) that
``--set train.seed=<train.seed + i>`` makes, so finished trainings are found and reused, and
training ``i`` of every method draws the same training episodes where their shapes agree
(:func:`fsar_bench.engine.train_data.episode_rng`; docs/statistics.md).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fsar_bench.engine.context import RunContext
from fsar_bench.engine.inputs import manifest_for
from fsar_bench.engine.request import Resolved
from fsar_bench.engine.schedule import TrainConfig, recorded
from fsar_bench.engine.select import check_val_split
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest
from fsar_bench.files import owned
from fsar_bench.methods import MethodInfo
from fsar_bench.results.state import checkpoint_dir
from fsar_bench.results.summary import Setting


@dataclass(frozen=True, kw_only=True)
class Cell:
    """One method on one setting, planned.

    Attributes:
        info: the method's registry entry. setting: the evaluated setting.
        method_config: the resolved method config (a dataclass). train: the training config.
        manifests: ``"test"`` and, when the run selects, ``"val"``.
        config: the run config (hashed into the folder name; see :func:`run_config`).
        training: which training of the (shot, method) this is (0-based; its seed is
            ``train.seed``), of ``trainings``; neither is in ``config``.
    """

    info: MethodInfo
    setting: Setting
    method_config: Any
    train: TrainConfig
    manifests: dict[str, Manifest]
    config: dict
    training: int = 0
    trainings: int = 1

    @property
    def name(self) -> str:
        """The run folder's name without its hash: ``<method>-<way>w<shot>s``."""
        return f"{self.info.name}-{self.setting.way}w{self.setting.shot}s"


def run_config(ctx: RunContext, cell: Cell) -> dict:
    """The resolved configuration of one run (hashed into its folder name)."""
    test = ctx.stores.get("test")
    if ctx.clips:
        inputs = ctx.clips.config()
    else:
        inputs = {
            "features": {s: ctx.stores[s].meta.key for s in ctx.stores},
            "backbone": test.meta.backbone,
            "size": test.meta.size,
        }
    manifests = cell.manifests
    return (
        inputs
        | {
            "method": cell.info.name,
            "method_origin": cell.info.origin,
            "method_factory": cell.info.factory,
            "preset": ctx.req.preset,
            "method_config": dataclasses.asdict(cell.method_config),
            "train_config": recorded(cell.train),
            "setting": dataclasses.asdict(cell.setting),
            "select": ctx.select,
            "val_manifest": manifests["val"].sha256 if "val" in manifests else None,
            "manifest": manifests["test"].sha256,
        }
        | ({"world_size": ctx.runtime.world} if ctx.runtime.distributed else {})
    )


def _common(ctx: RunContext, setting: Setting) -> dict:
    return {
        "dataset": ctx.source.name,
        "way": setting.way,
        "shot": setting.shot,
        "frames": setting.frames,
        "variant": ctx.source.variant,
    }


def _manifest(ctx: RunContext, split: str, spec: EpisodeSpec) -> Manifest:
    """:func:`manifest_for` of one of the run's splits: drawn on rank 0, then read by the rest
    (a draft context writes none)."""
    folder = ctx.req.runs / ctx.source.name / "manifests"
    write = not ctx.draft  # a dry run draws in memory and writes nothing

    def draw() -> Manifest:
        with owned(folder, what=f"manifests {folder}", active=ctx.runtime.is_main and write):
            return manifest_for(ctx.indexes[split], spec, folder, write=write)

    return ctx.runtime.main_first(draw)


def val_manifests(ctx: RunContext, setting: Setting, episodes: int) -> dict[str, Manifest]:
    """``{"val": manifest}`` of ``episodes`` episodes (seed + 1) for the run's selection: the
    validation split (``val``), held-out training classes (``holdout``), none (``last``).
    Shared by every method whose training config asks for that many episodes."""
    mode = ctx.selection.mode
    common = {**_common(ctx, setting), "query": 1, "episodes": episodes, "seed": ctx.req.seed + 1}
    if mode == "val":
        check_val_split(ctx.indexes["val"], ctx.source.name, setting.way)
        return {"val": _manifest(ctx, "val", EpisodeSpec(split="val", **common))}
    if mode == "holdout":
        common["way"] = min(setting.way, ctx.selection.k)
        return {"val": _manifest(ctx, "holdout", EpisodeSpec(split="train", **common))}
    return {}


def test_manifest(ctx: RunContext, setting: Setting) -> Manifest:
    """The test manifest of one setting, shared by every method (drawn once, then reused)."""
    spec = EpisodeSpec(
        split="test",
        query=setting.query,
        episodes=setting.episodes,
        seed=setting.seed,
        **_common(ctx, setting),
    )
    return _manifest(ctx, "test", spec)


def settings(ctx: RunContext) -> list[Setting]:
    """One :class:`Setting` per shot of the request."""
    from fsar_bench.episodes.protocols import PROTOCOLS

    req = ctx.req
    proto = PROTOCOLS.get(req.protocol)
    return [
        Setting(
            dataset=ctx.source.name,
            way=req.way,
            shot=shot,
            query=proto.query,
            episodes=req.episodes or proto.total_episodes,
            protocol=proto.name,
            seed=req.seed,
            frames=req.frames,
            repeats=proto.repeats if req.episodes is None else 1,
        )
        for shot in req.shots
    ]


def training_config(train: TrainConfig, index: int) -> TrainConfig:
    """The training config of training ``index`` (0: ``train`` itself): training seed
    ``train.seed + index``, everything else equal."""
    return dataclasses.replace(train, seed=train.seed + index)


def plan(ctx: RunContext, resolved: dict[tuple[str, int], Resolved]) -> list[Cell]:
    """Every cell of the run: shot by shot, then training by training (``ctx.req.trainings``),
    methods in request order (manifests drawn here); ``resolved``:
    :func:`~fsar_bench.engine.request.check_request`'s configs."""
    cells = []
    n = ctx.req.trainings
    for setting in settings(ctx):
        test = test_manifest(ctx, setting)
        for i in range(n):
            for (_, shot), res in resolved.items():
                if shot != setting.shot:
                    continue
                val = val_manifests(ctx, setting, res.train.val_episodes)
                cell = Cell(
                    info=res.info,
                    setting=setting,
                    method_config=res.method_config,
                    train=training_config(res.train, i),
                    manifests={"test": test, **val},
                    config={},
                    training=i,
                    trainings=n,
                )
                cells.append(dataclasses.replace(cell, config=run_config(ctx, cell)))
    return cells


def checkpoint_folder(ctx: RunContext, cell: Cell) -> Path:
    """Where the cell's training keeps its checkpoints (shared by every test protocol)."""
    return checkpoint_dir(ctx.source.cache, cell.config)
