"""``fsar-bench run`` as a library call: data, features, training and evaluation of several
methods on identical episodes.

For every shot setting one test manifest is drawn (seeded) and shared by every method; one
validation manifest (another seed) is used for model selection (``--select``, see
:mod:`fsar_bench.engine.select`: the val split, K held-out training classes, or none). Each
(method, shot) is trained on the train split unless a finished checkpoint exists, then
evaluated; finished evaluations are not repeated and interrupted ones continue (see
:mod:`fsar_bench.engine.train`, :mod:`fsar_bench.engine.evaluate`). Every run writes a
:class:`~fsar_bench.results.summary.RunSummary`, which records the method's origin (built-in,
entry point or import path) and factory, the selection and the backbone weight file.

Under ``torchrun`` every rank runs this loop; rank 0 alone writes (data, index, manifests, run
folders, checkpoints, records, summaries) while the others wait or receive its result, and
extraction, training (DDP) and evaluation are split across the ranks. Summaries record
``world_size``; run configs only when it is above 1 (one-process run ids are unchanged).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fsar_bench.data.index import SplitIndex
from fsar_bench.data.source import DataSource
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.engine.finetune import Clips
from fsar_bench.engine.inputs import feature_loader, manifest_for, usable
from fsar_bench.engine.presets import method_settings, train_config
from fsar_bench.engine.request import RunRequest, check_request
from fsar_bench.engine.schedule import recorded
from fsar_bench.engine.select import check_selection, check_val_split, parse_select, select_indexes
from fsar_bench.engine.train import TrainConfig, TrainData, Trainer, load_best
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest
from fsar_bench.features.bank import FeatureBank
from fsar_bench.features.cache import FeatureStore
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.methods import MethodInfo, create_method
from fsar_bench.results.stats import CONVENTION, mean_ci
from fsar_bench.results.store import RunDir, accuracies, config_hash, versions
from fsar_bench.results.summary import RunSummary, Setting, read_summary, write_summary
from fsar_bench.runtime import Runtime

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, kw_only=True)
class _Shared:
    """What every (method, shot) of one run shares."""

    source: DataSource
    req: RunRequest
    stores: dict[str, FeatureStore]
    indexes: dict[str, SplitIndex]
    select: dict
    runtime: Runtime
    progress: Progress | None = None
    clips: Clips | None = None
    banks: dict[tuple[str, bool], FeatureBank] = field(default_factory=dict)

    def bank(self, split: str, pooled: bool) -> FeatureBank:
        """The split's :class:`FeatureBank` (built once per run and input kind)."""
        if (split, pooled) not in self.banks:
            self.banks[split, pooled] = FeatureBank(self.stores[split], pooled)
        return self.banks[split, pooled]


def summarize_accuracy(acc: np.ndarray, repeats: int) -> tuple[dict, str]:
    """Mean and 95% interval over episodes, or over repeat means when ``repeats > 1``.

    With repeats (the ``ita`` protocol: 10 x 600 episodes) the episodes are split in order
    into ``repeats`` equal groups and the interval is taken over the group means, as that paper
    reports; the per-episode interval is kept as well.
    """
    per_episode = dataclasses.asdict(mean_ci(acc))
    if repeats <= 1:
        return per_episode, CONVENTION
    means = acc.reshape(repeats, -1).mean(1)
    out = {**dataclasses.asdict(mean_ci(means)), "per_episode": per_episode}
    return out, f"over {repeats} repeat means: " + CONVENTION


def _run_config(
    sh: _Shared, info: MethodInfo, setting: Setting, manifests, tcfg: TrainConfig
) -> dict:
    """The resolved configuration of one run (hashed into its folder name)."""
    req, test = sh.req, sh.stores.get("test")
    mcfg = method_settings(info, req.recipe, req.sets, shot=setting.shot)
    inputs = (
        sh.clips.config()
        if sh.clips
        else {
            "features": {s: sh.stores[s].meta.key for s in sh.stores},
            "backbone": test.meta.backbone,
            "size": test.meta.size,
        }
    )
    return (
        inputs
        | {
            "method": info.name,
            "method_origin": info.origin,
            "method_factory": info.factory,
            "preset": req.preset,
            "method_config": dataclasses.asdict(mcfg),
            "train_config": recorded(tcfg),
            "setting": dataclasses.asdict(setting),
            "select": sh.select,
            "val_manifest": manifests["val"].sha256 if "val" in manifests else None,
            "manifest": manifests["test"].sha256,
        }
        | ({"world_size": sh.runtime.world} if sh.runtime.distributed else {})
    )


TEST_ONLY = ("query", "episodes", "protocol", "repeats")  # setting fields training never reads


def training_key(config: dict) -> str:
    """Hash of what a training depends on: the run config without the test manifest and the
    test-only setting fields, so another test protocol reuses the trained checkpoint."""
    setting = {k: v for k, v in config["setting"].items() if k not in TEST_ONLY}
    return config_hash({**{k: config[k] for k in config if k != "manifest"}, "setting": setting})


def _val_loader(sh: _Shared, pooled: bool):
    """Features of the validation manifest's videos (held-out classes: training view 0)."""
    if sh.select["mode"] == "holdout":
        bank = sh.bank("train", pooled)
        return lambda ids: bank.load(ids, [0] * len(ids))
    return sh.bank("val", pooled).load if "val" in sh.stores else None


def _train(
    sh: _Shared, info: MethodInfo, config: dict, setting: Setting, manifests, tcfg: TrainConfig
):
    """Train (or resume, or reuse) one method; returns ``(method, trainer, checkpoint folder)``.

    Training and validation videos are read through the run's :class:`FeatureBank` of each
    split (one gather per batch of episodes instead of one store read per video). The training
    seed ``tcfg.seed`` (``--seed`` unless ``--set train.seed``) seeds the initialisation and
    the global torch stream (dropout) as well as the trainer's episode generator.
    """
    torch.manual_seed(tcfg.seed)
    pooled = info.input_kind == "pooled"
    train_key = training_key(config)
    ckpt = sh.source.cache / "checkpoints" / sh.source.name / f"{info.name}-{train_key}"
    if sh.clips:
        method = sh.clips.model(info, config["method_config"])
        data = sh.clips.train_data(sh.indexes["train"], manifests.get("val"), setting)
    else:
        method = create_method(
            info.name, sh.stores["test"].meta.channels, **config["method_config"]
        )
        data = TrainData(
            index=sh.indexes["train"],
            views=sh.stores["train"].meta.views,
            load=sh.bank("train", pooled).load,
            val_manifest=manifests.get("val"),
            val_load=_val_loader(sh, pooled),
            way=setting.way,
            shot=setting.shot,
        )
    trainer = Trainer(method, tcfg, data, out_dir=ckpt, runtime=sh.runtime)
    cb = sh.progress and (lambda i, n, loss, v: sh.progress("train", i, n))
    trainer.fit(progress=cb)
    return load_best(method, ckpt), trainer, ckpt


def run_one(sh: _Shared, info: MethodInfo, setting: Setting, test: Manifest) -> RunSummary:
    """Train (if needed) and evaluate one method on one setting; returns its summary."""
    tcfg = train_config(info, sh.req.recipe, sh.req.sets, sh.req.seed)
    manifests = {"test": test, **val_manifests(sh, setting, tcfg.val_episodes)}
    config = _run_config(sh, info, setting, manifests, tcfg)
    name, rt = f"{info.name}-{setting.way}w{setting.shot}s", sh.runtime
    run = rt.on_main(lambda: RunDir.create(sh.req.runs, setting.dataset, name, config))
    if rt.on_main(run.finished):
        return read_summary(run.path)
    t0 = time.time()
    method, trainer, ckpt = _train(sh, info, config, setting, manifests, tcfg)
    train_s, t0 = time.time() - t0, time.time()
    cb = sh.progress and (lambda i, n: sh.progress("test", i, n))
    pooled = info.input_kind == "pooled"
    load = sh.clips.test_loader() if sh.clips else feature_loader(sh.stores["test"], pooled)
    result = evaluate(
        method,
        manifests["test"],
        load,
        device=rt.device,
        records=run.records,
        progress=cb,
        runtime=rt,
    )
    acc, convention = summarize_accuracy(accuracies(result.records), setting.repeats)
    config = {**config, "setting": setting, "world_size": rt.world}
    summary = RunSummary(
        **config,
        accuracy=acc,
        interval_convention=convention,
        manifest_file=str(manifests["test"].path),
        best_val=trainer.best if "val" in manifests else None,
        weights=sh.req.weights or "",
        train_history=trainer.history,
        stop_reason=trainer.stop_reason,
        train_episodes=trainer.state.step,
        train_seconds=round(train_s, 1),
        eval_seconds=round(time.time() - t0, 1),
        versions=versions(),
        device=str(rt.device),
        checkpoint=str(ckpt / "best.safetensors"),
    )
    if not rt.is_main:  # rank 0 writes it
        return dataclasses.replace(summary, dir=str(run.path))
    return write_summary(run, summary)


def _common(sh: _Shared, setting: Setting) -> dict:
    return dict(
        dataset=sh.source.name,
        way=setting.way,
        shot=setting.shot,
        frames=setting.frames,
        variant=sh.source.variant,
    )


def val_manifests(sh: _Shared, setting: Setting, episodes: int) -> dict[str, Manifest]:
    """``{"val": manifest}`` of ``episodes`` episodes (seed + 1) for the run's selection: the
    validation split (``val``), held-out training classes (``holdout``), none (``last``).
    Shared by every method whose training config asks for that many episodes."""
    mode, folder = sh.select["mode"], sh.req.runs / sh.source.name / "manifests"
    common = {**_common(sh, setting), "query": 1, "episodes": episodes, "seed": sh.req.seed + 1}
    if mode == "val":
        check_val_split(sh.indexes["val"], sh.source.name, setting.way)
        return {"val": _manifest(sh, "val", EpisodeSpec(split="val", **common), folder)}
    if mode == "holdout":
        common["way"] = min(setting.way, sh.select["k"])
        spec = EpisodeSpec(split="train", **common)
        return {"val": _manifest(sh, "holdout", spec, folder)}
    return {}


def test_manifest(sh: _Shared, setting: Setting) -> Manifest:
    """The test manifest of one setting, shared by every method (drawn once, then reused)."""
    spec = EpisodeSpec(
        split="test",
        query=setting.query,
        episodes=setting.episodes,
        seed=setting.seed,
        **_common(sh, setting),
    )
    return _manifest(sh, "test", spec, sh.req.runs / sh.source.name / "manifests")


def _manifest(sh: _Shared, split: str, spec: EpisodeSpec, folder: Path) -> Manifest:
    """:func:`manifest_for` of one of the run's splits: drawn on rank 0, then read by the rest."""
    return sh.runtime.main_first(lambda: manifest_for(sh.indexes[split], spec, folder))


def run_benchmark(
    source: DataSource,
    req: RunRequest,
    progress: Progress | None = None,
    runtime: Runtime | None = None,
) -> list[RunSummary]:
    """Everything ``fsar-bench run`` does; returns one summary per (method, shot). ``runtime``:
    this process under ``torchrun`` (``None``: one process on ``req.device``)."""
    from fsar_bench.episodes.protocols import PROTOCOLS

    proto = PROTOCOLS.get(req.protocol)
    infos = check_request(req)
    runtime = runtime or Runtime(device=torch.device(req.device))
    progress = progress if runtime.is_main else None
    source.ensure_prepared(seed=req.seed, progress=progress, runtime=runtime)
    # extraction views use a fixed seed so stores are shared across run seeds
    xcfg = ExtractConfig(
        backbone=req.backbone, frames=req.frames, size=req.size, weights=req.weights, maps=req.maps
    )
    selection = parse_select(req.select)
    split_ix = runtime.main_first(lambda: source.index(selection.splits))
    check_selection(split_ix, selection, source.name, req.seed, req.way)
    ix = source.index()
    stores = (
        {}
        if req.finetune
        else source.features(xcfg, selection.splits, runtime=runtime, progress=progress)
    )
    usable_ix = {s: usable(ix[s], stores[s]) if stores else ix[s] for s in selection.splits}
    indexes, select = select_indexes(usable_ix, selection, req.seed, req.way)
    clips = Clips.of(source, indexes, req, runtime.device) if req.finetune else None
    sh = _Shared(
        source=source,
        req=req,
        stores=stores,
        indexes=indexes,
        select=select,
        runtime=runtime,
        progress=progress,
        clips=clips,
    )
    summaries = []
    for shot in req.shots:
        setting = Setting(
            dataset=source.name,
            way=req.way,
            shot=shot,
            query=proto.query,
            episodes=req.episodes or proto.total_episodes,
            protocol=proto.name,
            seed=req.seed,
            frames=req.frames,
            repeats=proto.repeats if req.episodes is None else 1,
        )
        test = test_manifest(sh, setting)
        summaries += [run_one(sh, info, setting, test) for info in infos]
    return summaries
