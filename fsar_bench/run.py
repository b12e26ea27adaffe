"""``fsar-bench run``: data, features, training and evaluation of several methods on identical
episodes, with a results table and paired comparisons.

For every shot setting one test manifest is drawn (seeded) and shared by every method; one
validation manifest (another seed) is used for model selection. Each (method, shot) is trained
on the train split unless a finished checkpoint exists, then evaluated; finished evaluations are
not repeated and interrupted ones continue (see :mod:`fsar_bench.train`,
:mod:`fsar_bench.evaluate`).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fsar_bench.data.index import SplitIndex
from fsar_bench.episodes import EpisodeSpec, Manifest, build_manifest, load_manifest, write_manifest
from fsar_bench.errors import FsarError
from fsar_bench.evaluate import accuracies, evaluate
from fsar_bench.features.cache import FeatureStore
from fsar_bench.methods import METHODS, create_method, method_config
from fsar_bench.overrides import apply
from fsar_bench.results import RunDir, config_hash, versions
from fsar_bench.stats import CONVENTION, mean_ci
from fsar_bench.train import TrainConfig, Trainer, load_best

# Named presets of defaults, applied below the user's --set values and recorded in every
# result's config. "quick" is the CPU default and is NOT a paper budget; "paper" uses the
# papers'/official code's optimiser recipes (budgets meant for a GPU).
PRESETS: dict[str, dict[str, dict[str, str]]] = {
    "quick": {
        "train": {"episodes": "600", "optimizer": "adam", "lr": "1e-3", "val_every": "200"},
        "ta2n.train": {"episodes": "300", "val_every": "100"},
        "ta2n": {"reduce_channels": "256"},
        # raw cosine logits (peer code) barely move a softmax: learn a temperature instead
        "protonet": {"learn_scale": "true"},
        "trn": {"learn_scale": "true"},
    },
    "paper": {
        "train": {
            "episodes": "20000",
            "optimizer": "sgd",
            "lr": "1e-3",
            "momentum": "0.9",
            "val_every": "1000",
            "val_episodes": "1000",
        },
        "ta2n.train": {"episodes": "100000", "momentum": "0", "accumulate": "16", "query": "5"},
    },
}


def check_preset(preset: str) -> None:
    if preset not in PRESETS:
        raise FsarError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")


def method_settings(name: str, preset: str, user: dict[str, dict[str, str]]):
    """Method config: defaults (the authors' code), then the preset, then the user's --set."""
    values = {**PRESETS[preset].get(name, {}), **user.get(name, {})}
    return apply(method_config(name), values, name)


def train_config(method: str, preset: str, user: dict[str, dict[str, str]], seed: int):
    """Training config: preset ``train``, then preset ``METHOD.train``, then the user's."""
    cfg = TrainConfig(seed=seed)
    for values in (
        PRESETS[preset].get("train", {}),
        PRESETS[preset].get(f"{method}.train", {}),
        user.get("train", {}),
    ):
        cfg = apply(cfg, values, "train")
    return cfg


@dataclass(frozen=True)
class Setting:
    """One evaluated setting shared by all methods."""

    dataset: str
    way: int
    shot: int
    query: int
    episodes: int
    protocol: str
    seed: int
    frames: int
    repeats: int = 1


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


def usable(index: SplitIndex, store: FeatureStore) -> SplitIndex:
    """The split restricted to videos that have features (failures are listed by the store)."""
    return dataclasses.replace(index, videos=[v for v in index.videos if v.video_id in store])


def manifest_for(index: SplitIndex, spec: EpisodeSpec, folder: Path) -> Manifest:
    """Draw (or reuse) the manifest of ``spec``; its file name carries the spec's hash."""
    path = (
        folder
        / f"{spec.split}-{spec.way}w{spec.shot}s-{config_hash(dataclasses.asdict(spec))}.json"
    )
    if not path.is_file():
        write_manifest(build_manifest(index, spec), path)
    return load_manifest(path)


def feature_loader(store: FeatureStore, pooled: bool):
    """``load(ids, views)``: per-video views for training, the test clip when ``views`` is None."""

    def load(ids: list[str], views: list[int] | None = None) -> torch.Tensor:
        if views is None:
            return store.get(ids, pooled=pooled)
        return torch.cat([store.get([v], pooled=pooled, view=w) for v, w in zip(ids, views)])

    return load


def run_one(
    method_name: str,
    setting: Setting,
    stores: dict[str, FeatureStore],
    indexes: dict[str, SplitIndex],
    manifests: dict[str, Manifest],
    preset: str,
    user: dict[str, dict[str, str]],
    runs: Path,
    ckpt_root: Path,
    device: torch.device,
    progress=None,
) -> dict:
    """Train (if needed) and evaluate one method on one setting; returns its summary."""
    info = METHODS.get(method_name)
    mcfg = method_settings(info.name, preset, user)
    if hasattr(mcfg, "shots") and "shots" not in user.get(info.name, {}):
        mcfg = dataclasses.replace(mcfg, shots=setting.shot)  # only what this K needs
    tcfg = train_config(info.name, preset, user, setting.seed)
    pooled = info.input_kind == "pooled"
    train_store, test_store = stores["train"], stores["test"]
    config = {
        "method": info.name,
        "preset": preset,
        "method_config": dataclasses.asdict(mcfg),
        "train_config": dataclasses.asdict(tcfg),
        "setting": dataclasses.asdict(setting),
        "features": {s: stores[s].meta.key for s in stores},
        "backbone": test_store.meta.backbone,
        "size": test_store.meta.size,
        "val_manifest": manifests["val"].sha256,
        "manifest": manifests["test"].sha256,
    }
    run = RunDir.create(runs, setting.dataset, f"{info.name}-{setting.way}w{setting.shot}s", config)
    if run.finished():
        return {**json.loads(run.summary_file.read_text()), "dir": str(run.path)}
    torch.manual_seed(setting.seed)
    dim = test_store.meta.channels
    method = create_method(info.name, dim, **dataclasses.asdict(mcfg))
    train_key = config_hash({k: config[k] for k in config if k != "manifest"})
    ckpt = ckpt_root / f"{info.name}-{train_key}"
    t0 = time.time()
    trainer = Trainer(
        method,
        tcfg,
        indexes["train"],
        manifests["val"],
        feature_loader(train_store, pooled),
        train_store.meta.views,
        ckpt,
        feature_loader(stores["val"], pooled),
        setting.way,
        setting.shot,
        device,
    )
    best_val = trainer.fit(progress=progress and (lambda i, n, loss, v: progress("train", i, n)))
    train_s = time.time() - t0
    load_best(method, ckpt)
    t0 = time.time()
    cb = progress and (lambda i, n: progress("test", i, n))
    records = evaluate(
        method,
        manifests["test"],
        feature_loader(test_store, pooled),
        run.records,
        device=device,
        progress=cb,
    )
    acc, convention = summarize_accuracy(accuracies(records), setting.repeats)
    summary = {
        **config,
        "accuracy": acc,
        "interval_convention": convention,
        "manifest_file": str(manifests["test"].path),
        "best_val": best_val,
        "train_history": trainer.history,
        "train_seconds": round(train_s, 1),
        "eval_seconds": round(time.time() - t0, 1),
        "versions": versions(),
        "device": str(device),
    }
    run.write_summary(summary)
    return {**summary, "dir": str(run.path)}


@dataclass(frozen=True)
class RunRequest:
    """What ``fsar-bench run`` was asked for."""

    methods: tuple[str, ...] = ("protonet", "otam", "trn", "ta2n")
    dataset: str = "synthetic"
    shots: tuple[int, ...] = (1, 5)
    way: int = 5
    protocol: str = "quick"
    episodes: int | None = None
    seed: int = 0
    backbone: str = "efficientnet-lite0"
    size: int | None = None
    frames: int = 8
    variant: str = ""
    missing: str = "error"
    preset: str = "quick"


def run_benchmark(
    req: RunRequest,
    sets: dict[str, dict[str, str]],
    root: Path,
    cache: Path,
    runs: Path,
    device: torch.device,
    progress=None,
) -> list[dict]:
    """Everything ``fsar-bench run`` does; returns one summary per (method, shot)."""
    from fsar_bench.data.datasets import resolve_dataset
    from fsar_bench.data.index import load_index
    from fsar_bench.features.extract import ExtractConfig, ensure_features
    from fsar_bench.prepare import prepare
    from fsar_bench.protocols import PROTOCOLS

    info = resolve_dataset(req.dataset)
    proto = PROTOCOLS.get(req.protocol)
    check_preset(req.preset)
    infos = [METHODS.get(m) for m in req.methods]
    if info.is_synthetic and not (root / "COMPLETE").is_file():
        prepare(info, root, cache, req.variant, seed=req.seed, progress=progress)
    # extraction views use a fixed seed so stores are shared across run seeds
    xcfg = ExtractConfig(backbone=req.backbone, frames=req.frames, size=req.size)
    stores = ensure_features(
        info, root, cache, xcfg, variant=req.variant, missing=req.missing, progress=progress
    )
    index = load_index(info, root, cache, req.variant, req.missing)
    indexes = {s: usable(index[s], stores[s]) for s in stores}
    folder = runs / info.name / "manifests"
    n_test = req.episodes or proto.total_episodes
    summaries = []
    for shot in req.shots:
        repeats = proto.repeats if req.episodes is None else 1
        setting = Setting(
            info.name, req.way, shot, proto.query, n_test, proto.name, req.seed, req.frames, repeats
        )
        val_spec = EpisodeSpec(
            info.name,
            "val",
            req.way,
            shot,
            1,
            train_config("", req.preset, sets, req.seed).val_episodes,
            req.seed + 1,
            req.frames,
            variant=req.variant,
        )
        test_spec = EpisodeSpec(
            info.name,
            "test",
            req.way,
            shot,
            proto.query,
            n_test,
            req.seed,
            req.frames,
            variant=req.variant,
        )
        manifests = {
            "val": manifest_for(indexes["val"], val_spec, folder),
            "test": manifest_for(indexes["test"], test_spec, folder),
        }
        for m in infos:
            summaries.append(
                run_one(
                    m.name,
                    setting,
                    stores,
                    indexes,
                    manifests,
                    req.preset,
                    sets,
                    runs,
                    cache / "checkpoints" / info.name,
                    device,
                    progress,
                )
            )
    return summaries
