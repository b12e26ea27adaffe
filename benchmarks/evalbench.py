"""Shared pieces of the evaluation benchmarks (``bench_eval.py``, ``bench_ta2n.py``).

* :func:`synthetic_manifest`: a real :class:`~fsar_bench.episodes.manifest.Manifest` drawn by
  the suite's own episode draw over ``classes x per_class`` video ids (``c<class>_v<i>``).
* :func:`memory_loader`: the ``load(ids)`` callback of :func:`~fsar_bench.engine.evaluate.evaluate`
  over in-memory features (a warm feature cache), with the index of each id.
* :func:`race`: median wall time of several paths, repeats interleaved so that a busy machine
  slows them alike, with the 1-minute load average read before each timing.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.splits import SplitList
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest, parse_manifest


def synthetic_manifest(
    classes: int, per_class: int, episodes: int, *, shot: int = 1, query: int = 1, seed: int = 0
) -> Manifest:
    """``episodes`` 5-way episodes over ``classes * per_class`` videos, in video id order."""
    videos = [
        Video(video_id=video_id(c, i, per_class), class_key=f"k{c}", path="-", n_frames=8)
        for c in range(classes)
        for i in range(per_class)
    ]
    split = SplitList(
        path=None,
        sha256="0" * 64,
        classes=tuple(f"k{c}" for c in range(classes)),
        videos=tuple((v.video_id, v.class_key) for v in videos),
    )
    spec = EpisodeSpec(dataset="bench", shot=shot, query=query, episodes=episodes, seed=seed)
    return parse_manifest(build_manifest(SplitIndex(split=split, videos=videos, missing=[]), spec))


def video_id(c: int, i: int, per_class: int) -> str:
    """Id of video ``i`` of class ``c``; its row in the feature tensor is ``c * per_class + i``."""
    return f"{c * per_class + i:06d}"


def memory_loader(feats: torch.Tensor) -> Callable[[list[str]], torch.Tensor]:
    """``load(ids)``: rows ``int(id)`` of ``feats`` (a copy, as a cache read returns)."""
    return lambda ids: feats[torch.tensor([int(v) for v in ids])]


def episode_rows(manifest: Manifest) -> tuple[torch.Tensor, torch.Tensor]:
    """Support and query feature rows ``[E, S]``, ``[E, Q]`` (class-major)."""
    sup, _, qry, _ = manifest.arrays()
    return (
        torch.tensor([[int(v) for v in ep] for ep in sup]),
        torch.tensor([[int(v) for v in ep] for ep in qry]),
    )


def evaluate_path(method, manifest: Manifest, feats: torch.Tensor) -> Callable[[], torch.Tensor]:
    """What ``fsar-bench run`` does after training: :func:`evaluate` with a records file."""

    def run() -> torch.Tensor:
        with tempfile.TemporaryDirectory() as tmp:
            out = evaluate(
                method,
                manifest,
                memory_loader(feats),
                device="cpu",
                records=Path(tmp) / "episodes.jsonl",
            )
        return torch.tensor([r["pred"] for r in out.records])

    return run


@dataclass
class Timing:
    """Median seconds and median load average of one path over the repeats."""

    seconds: float
    load: float
    result: object = None


def race(paths: dict[str, Callable[[], object]], repeats: int) -> dict[str, Timing]:
    """Run every path ``repeats`` times, interleaved; medians of time and of the load before."""
    times: dict[str, list[float]] = {name: [] for name in paths}
    loads: dict[str, list[float]] = {name: [] for name in paths}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, fn in paths.items():
            loads[name].append(os.getloadavg()[0])
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {
        name: Timing(statistics.median(times[name]), statistics.median(loads[name]), results[name])
        for name in paths
    }


def table(rows: dict[str, float], loads: dict[str, float], n: int, peer: str, floor: str) -> str:
    """Seconds (for ``n`` episodes), episodes/s, ratios to the peer and the floor, load."""
    cols = f"{'seconds':>9}{'episodes/s':>12}{'peer/this':>11}{'this/floor':>12}{'load':>7}"
    lines = [f"{'path':<44}{cols}"]
    for name, sec in rows.items():
        lines.append(
            f"{name:<44}{sec:>9.2f}{n / sec:>12.0f}{rows[peer] / sec:>10.1f}x"
            f"{sec / rows[floor]:>11.2f}x{loads[name]:>7.1f}"
        )
    return "\n".join(lines)
