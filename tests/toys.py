"""Toy runs, episodes and features shared by the report, trainings, order and sweep tests:
stored results fabricated through the real file formats (no model)."""

from __future__ import annotations

import dataclasses
import json
import zlib
from pathlib import Path

import numpy as np
import torch

from conftest import toy_index as toy_videos
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.splits import SplitList
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest, write_manifest
from fsar_bench.results.stats import CONVENTION, mean_ci
from fsar_bench.results.store import RunDir
from fsar_bench.results.summary import RunSummary, Setting, write_summary

WAY, QUERY, EPISODES = 5, 2, 20
T, D = 6, 8


def run_index(n_classes: int = 8, per_class: int = 10) -> SplitIndex:
    videos = [
        Video(video_id=f"c{c}_v{i}", class_key=f"class{c}", path=f"class{c}/c{c}_v{i}", n_frames=20)
        for c in range(n_classes)
        for i in range(per_class)
    ]
    lst = SplitList(
        path=None,
        sha256="0" * 64,
        classes=tuple(f"class{c}" for c in range(n_classes)),
        videos=tuple((v.video_id, v.class_key) for v in videos),
    )
    return SplitIndex(split=lst, videos=videos, missing=[])


def fake_run(
    runs: Path,
    dataset: str,
    method: str,
    shot: int,
    skill,
    config=None,
    seed=0,
    train_seed: int | None = None,
    episodes: int = EPISODES,
    n_classes: int = 8,
):
    """Store a finished run; a query of class ``c`` is right with probability ``skill(c)``.
    ``train_seed``: its ``train_config["seed"]`` (absent when ``None``); ``episodes`` test
    episodes drawn from ``n_classes`` test classes."""
    spec = EpisodeSpec(
        dataset=dataset, way=WAY, shot=shot, query=QUERY, episodes=episodes, seed=shot
    )
    path = runs / dataset / "manifests" / f"test-{WAY}w{shot}s.json"
    digest = write_manifest(build_manifest(run_index(n_classes), spec), path)
    manifest = json.loads(path.read_text())
    rng = np.random.default_rng([seed, shot, zlib.crc32(method.encode()), train_seed or 0])
    labels = np.repeat(np.arange(WAY), QUERY)
    config = {
        "method": method,
        "preset": "quick",
        "method_config": config or {},
        "train_config": {"episodes": 10, **({} if train_seed is None else {"seed": train_seed})},
        "features": {},
        "backbone": "toy-net",
        "size": 32,
        "setting": {
            "dataset": dataset,
            "way": WAY,
            "shot": shot,
            "query": QUERY,
            "episodes": episodes,
            "protocol": "quick",
            "seed": 0,
            "frames": 8,
            "repeats": 1,
        },
        "val_manifest": "v" * 64,
        "manifest": digest,
    }
    run = RunDir.create(runs, dataset, f"{method}-{WAY}w{shot}s", config)
    records = []
    with open(run.records, "w") as fh:
        for i, ep in enumerate(manifest["episodes"]):
            right = rng.random(len(labels)) < [skill(ep["classes"][k]) for k in labels]
            pred = np.where(right, labels, (labels + 1) % WAY)
            rec = {
                "episode": i,
                "correct": int(right.sum()),
                "n_query": len(labels),
                "pred": pred.tolist(),
            }
            records.append(rec)
            fh.write(json.dumps(rec) + "\n")
    acc = [100 * r["correct"] / r["n_query"] for r in records]
    curve = [
        {"step": 100 * (i + 1), "loss": 1.0, "val": v, "lr": 1e-3}
        for i, v in enumerate(np.mean(acc) + np.array([-20.0, -3.0, 0.0, -0.5]))
    ]
    summary = RunSummary(
        **{**config, "setting": Setting(**config["setting"])},
        accuracy=dataclasses.asdict(mean_ci(acc)),
        interval_convention=CONVENTION,
        manifest_file=str(path),
        best_val=float(np.mean(acc)),
        train_history=curve,
        stop_reason="plateau",
        train_episodes=400,
        train_seconds=1.0,
        eval_seconds=1.0,
        versions={},
        device="cpu",
    )
    write_summary(run, summary)
    return run, np.array(acc)


def flat(p: float):
    return lambda c: p


def md_table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the Markdown table in ``path``."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("| ")]
    cells = [[c.strip() for c in ln[2:-2].split(" | ")] for ln in lines]
    return cells[0], cells[2:]


def order_setup(seed: int = 0):
    """A toy test manifest (3-way 1-shot, 2 queries, 20 episodes) of random ``[T, D]`` features:
    ``(manifest, load, features by video id)``."""
    index = toy_videos(n_classes=5, per_class=4)
    spec = EpisodeSpec(dataset="toy", way=3, shot=1, query=2, episodes=20, frames=T, seed=seed)
    manifest = Manifest(spec=spec, data=json.loads(build_manifest(index, spec)), sha256="m")
    g = torch.Generator().manual_seed(seed)
    feats = {v.video_id: torch.randn(T, D, generator=g) for v in index.videos}
    return manifest, lambda ids: torch.stack([feats[i] for i in ids]).clone(), feats
