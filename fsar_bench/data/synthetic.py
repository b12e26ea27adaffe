"""The built-in synthetic dataset: motion-primitive videos with ground-truth misalignment.

Each video shows a static background (a random crop of a real photograph) and an "actor" (a
patch of another photograph) that performs the class's motion: an ordered sequence of motion
primitives (see :mod:`fsar_bench.data.synthetic_render` for the motion model). Photos and crops are
drawn per video, independently of the class, so only motion carries class information.

Twins. Classes come in twin groups that differ only in the order of their primitives: ``A-B`` and
``B-A`` for primitive pairs, ``A-B-C`` and ``C-B-A`` for triples. Because every primitive moves one
attribute out of the neutral state and back, a twin is its class played backwards and has the same
multiset of frame states: an order-blind method (mean over frames) is at chance between twins; an
order-aware one is not. Twins always share a split. The catalogue holds 28 pair groups and 56
triple groups (``MAX_CLASSES`` = 168 classes); groups are drawn and assigned to the class-disjoint
splits with a seeded ``numpy.random.Generator``.

Idle frames. Before the action starts and after it ends the actor is absent: the frame is the
background alone (identical bytes). Idle frames therefore carry no class information, and the
actor's presence marks the action's extent, as a real action marks its own.

Misalignment (per video, all recorded in ``ground_truth.jsonl``):

* duration: the action lasts ``round(f * frames)`` frames, ``f ~ U(duration)``, and starts at a
  uniform frame in ``[0, frames - length]``; ``start_frame`` is a 0-based index (file
  ``start_frame + 1``).
* evolution: progress = ``warp(u)`` with ``u = (i + 0.5) / length`` for the i-th action frame and a
  random monotone piecewise-linear warp through ``WARP_PIECES + 1`` equally spaced knots; the
  progress gained per piece is ``softmax(z)``, ``z ~ N(0, warp_sigma)`` i.i.d. This law is
  exchangeable in the pieces, hence invariant under time reversal ``w -> 1 - w(1 - u)``: a class
  and its twin get the same law of frame states, so warps favour no order. ``warp_sigma = 0`` is
  the identity.
* spatial: the neutral position is the frame centre plus ``(dx, dy) ~ U(-offset, offset) * size``.

Presets and single-factor levels: :mod:`fsar_bench.data.synthetic_config`.

Output: ``frames/<video_id>/000001.jpg ...``, ``splits/{train,val,test}list.txt`` (TRX format,
``<class>/<video_id>``), ``ground_truth.jsonl``, ``classes.json``, ``config.json`` and, last,
``COMPLETE``. Video ``i`` (classes in order, then videos) draws all its randomness from
``np.random.default_rng([seed, i])``, so a config gives byte-identical files for a given
numpy/Pillow/libjpeg, and each video can be regenerated alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

import numpy as np

from fsar_bench import faults
from fsar_bench.data import synthetic_render as render
from fsar_bench.data.synthetic_config import (  # noqa: F401 (re-exported)
    FACTORS,
    LEVEL_CONFIGS,
    LEVELS,
    MAX_CLASSES,
    SyntheticConfig,
    config_for,
    factor_config,
    level_name,
    preset,
)
from fsar_bench.errors import FsarError
from fsar_bench.files import dumps, owned, read_json, write_error, write_text

GENERATOR_VERSION = "fsar-bench-synthetic/1"
WARP_PIECES = 4
SPLITS = ("train", "val", "test")
_CLASS_STREAM = (0xC1A55, 1)  # entropy suffix of the class-design generator (never a video's)
_OUTPUTS = ("frames", "splits", "ground_truth.jsonl", "classes.json", "COMPLETE", "config.json")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SyntheticClass:
    """A class: its primitives in order, its split and its twins (same primitives, other order)."""

    name: str
    primitives: tuple[str, ...]
    split: str
    twins: tuple[str, ...]


def design_classes(config: SyntheticConfig) -> list[SyntheticClass]:
    """Draw the twin groups and assign them to splits; classes numbered in draw order."""
    rng = np.random.default_rng([config.seed, *_CLASS_STREAM])
    groups = [[pair, pair[::-1]] for pair in combinations(render.PRIMITIVES, 2)]
    for triple in combinations(render.PRIMITIVES, 3):
        order = tuple(triple[i] for i in rng.permutation(3))
        groups.append([order, order[::-1]])
    counts = config.class_counts
    chosen = [groups[i] for i in rng.permutation(len(groups))[: sum(counts.values()) // 2]]
    splits = rng.permutation(np.repeat(SPLITS, [counts[s] // 2 for s in SPLITS]))
    classes = []
    for group, split in zip(chosen, splits, strict=True):
        names = [f"c{len(classes) + j:03d}_{'-'.join(p)}" for j, p in enumerate(group)]
        for name, primitives in zip(names, group, strict=True):
            twins = tuple(n for n in names if n != name)
            classes.append(
                SyntheticClass(
                    name=name, primitives=tuple(primitives), split=str(split), twins=twins
                )
            )
    return classes


def sample_video(config: SyntheticConfig, cls: SyntheticClass, index: int, k: int) -> dict:
    """The ground-truth record of video ``k`` of ``cls``; ``index`` is its global video index.

    Keys: ``video_id``, ``class_name``, ``split``, ``primitives``, ``start_frame`` (0-based),
    ``duration`` (frames), ``warp`` (``kind``, ``sigma``, ``knots``, ``values``), per frame
    ``progress`` (``[T]``, None outside the action) and ``states`` (``[T][4]`` x, y, scale, angle:
    exactly what is rendered; None: no actor), ``offset`` (``[dx, dy]`` px), and the
    ``background`` and ``actor`` sources (``photo`` name, ``box`` ``[x0, y0, width]``).
    """
    rng = np.random.default_rng([config.seed, index])
    frames = config.frames
    length = int(np.clip(round(rng.uniform(*config.duration) * frames), 1, frames))
    start = int(rng.integers(0, frames - length + 1))
    slopes = np.exp(rng.normal(0.0, config.warp_sigma, WARP_PIECES))
    knots = np.linspace(0.0, 1.0, WARP_PIECES + 1)
    values = np.concatenate([[0.0], np.cumsum(slopes) / slopes.sum()])
    offset = np.round(rng.uniform(-config.offset, config.offset, 2) * config.size, 4)
    background, actor = (
        render.PHOTOS[i] for i in rng.choice(len(render.PHOTOS), size=2, replace=False)
    )
    progress = np.full(frames, np.nan)
    u = (np.arange(length) + 0.5) / length
    progress[start : start + length] = np.round(np.interp(u, knots, values), 6)
    states = np.round(render.actor_states(cls.primitives, progress, config.size, tuple(offset)), 4)
    return {
        "video_id": f"{cls.name}_v{k:03d}",
        "class_name": cls.name,
        "split": cls.split,
        "primitives": list(cls.primitives),
        "start_frame": start,
        "duration": length,
        "warp": {
            "kind": "piecewise_linear",
            "sigma": config.warp_sigma,
            "knots": knots.tolist(),
            "values": np.round(values, 6).tolist(),
        },
        "progress": [None if np.isnan(p) else float(p) for p in progress],
        "states": [None if np.isnan(s).any() else s.tolist() for s in states],
        "offset": offset.tolist(),
        "background": {
            "photo": background,
            "box": _box(background, rng, (0.5, 1.0)),
            "blur": round(config.background_blur * config.size / 128, 4),
            "contrast": config.background_contrast,
        },
        "actor": {"photo": actor, "box": _box(actor, rng, (0.2, 0.5))},
    }


def _box(photo: str, rng: np.random.Generator, side: tuple[float, float]) -> list[int]:
    """A random square ``[x0, y0, width]`` inside ``photo``, width a fraction ``side`` of it."""
    height, width = render.load_photo(photo).shape[:2]
    w = int(rng.uniform(*side) * min(height, width))
    return [int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - w + 1)), w]


def generate(
    root: Path,
    config: SyntheticConfig,
    progress: Callable[[int, int], None] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the dataset under ``root`` (resumable; returns at once when already complete).

    Args:
        root: output folder (new, empty, or holding this same config).
        config: what to generate.
        progress: called as ``progress(done, total)`` after each video.
        overwrite: replace a dataset of a different config found in ``root``.

    Returns:
        ``root``.
    """
    root = Path(root)
    # one generator per data root; a second process waits, then finds it complete
    with owned(root, what=f"synthetic dataset {root}", subfolders=("splits",)):
        if not _claim(root, config, overwrite):
            _generate(root, config, progress)
    return root


def _generate(root: Path, config: SyntheticConfig, progress) -> None:
    """:func:`generate`'s work in a claimed ``root`` (videos already rendered are kept)."""
    classes = design_classes(config)
    records = [
        sample_video(config, cls, c * config.videos_per_class + k, k)
        for c, cls in enumerate(classes)
        for k in range(config.videos_per_class)
    ]
    (root / "frames").mkdir(exist_ok=True)
    for done, record in enumerate(records, 1):
        if not (root / "frames" / record["video_id"]).is_dir():
            _write_video(root / "frames", record, config)
        if progress is not None:
            progress(done, len(records))
    (root / "splits").mkdir(exist_ok=True)
    for split in SPLITS:
        lines = [f"{r['class_name']}/{r['video_id']}\n" for r in records if r["split"] == split]
        _write_text(root / "splits" / f"{split}list.txt", "".join(lines))
    _write_text(root / "ground_truth.jsonl", "".join(dumps(r) + "\n" for r in records))
    table = {
        c.name: {"primitives": list(c.primitives), "split": c.split, "twins": list(c.twins)}
        for c in classes
    }
    _write_text(root / "classes.json", dumps(table, indent=1) + "\n")
    _write_text(root / "COMPLETE", GENERATOR_VERSION + "\n")


def _claim(root: Path, config: SyntheticConfig, overwrite: bool) -> bool:
    """Check or claim ``root`` for ``config``; True when it already holds the complete dataset."""
    wanted = {"generator": GENERATOR_VERSION, "config": dataclasses.asdict(config)}
    wanted = json.loads(json.dumps(wanted))
    path = root / "config.json"
    if path.is_file():
        found = read_json(path)
        if found == wanted:
            return (root / "COMPLETE").is_file()
        if found is not None and not overwrite:  # a torn config.json: redone from scratch
            raise FsarError(
                f"{root} holds a synthetic dataset with another config (see {path}); use "
                "another folder (--data-root), or delete this one to generate it again"
            )
        for name in _OUTPUTS:
            target = root / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
    elif root.is_dir() and any(root.iterdir()):
        raise FsarError(
            f"{root} is not empty and holds no synthetic dataset; use a new or empty folder"
        )
    root.mkdir(parents=True, exist_ok=True)
    _write_text(path, dumps(wanted, indent=1) + "\n")
    return False


def _write_video(frames: Path, record: dict, config: SyntheticConfig) -> None:
    """Render one video into a hidden temporary folder, then rename it into place."""
    final = frames / record["video_id"]
    partial = frames / f".{record['video_id']}.partial"
    try:
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir()
        for t, data in enumerate(render.render_record(record, config.size, config.jpeg_quality), 1):
            (partial / f"{t:06d}.jpg").write_bytes(data)
        faults.point(final)  # tests: a kill here leaves the hidden partial folder
        os.rename(partial, final)
    except OSError as err:  # a full disk: one line
        raise write_error(err, final) from err


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically and durably (:func:`fsar_bench.files.write_text`)."""
    write_text(path, text)


def _read_complete(root: Path, name: str) -> str:
    root = Path(root)
    if not (root / "COMPLETE").is_file():
        raise FsarError(
            f"{root} holds no complete synthetic dataset (no COMPLETE marker); generate it first"
        )
    return (root / name).read_text()


def load_ground_truth(root: Path) -> list[dict]:
    """The per-video ground-truth records of a generated dataset (see :func:`sample_video`)."""
    return [json.loads(line) for line in _read_complete(root, "ground_truth.jsonl").splitlines()]


def load_classes(root: Path) -> dict[str, dict]:
    """Class name -> ``{"primitives", "split", "twins"}`` of a generated dataset."""
    return json.loads(_read_complete(root, "classes.json"))
