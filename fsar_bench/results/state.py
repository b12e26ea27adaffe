"""How far a run got, read from its files without torch (``fsar-bench ls runs``, the run plan).

A run folder (:mod:`fsar_bench.results.store`) holds ``config.json`` from its start;
``episodes.jsonl`` grows by one line per evaluated test episode; ``summary.json`` is written
last, so a folder without it is unfinished. The training lives in the cache, in the folder of
its *training key* (:func:`training_key`: the run config without what only the test reads, so
another test protocol reuses the trained weights): ``last.safetensors`` carries the training's
position (episodes trained, stop reason) as JSON in its safetensors header, which
:func:`training_state` reads without loading a tensor (the safetensors format: 8 bytes of
header length, little-endian, then the JSON header; our metadata sits under ``__metadata__``).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.results.store import config_hash

TEST_ONLY = ("query", "episodes", "protocol", "repeats")  # setting fields training never reads
META_KEY = "fsar"  # fsar_bench.engine.checkpoint.META_KEY (not imported: it imports torch)
MAX_HEADER = 100 * 2**20  # a header above this is not one of ours


def training_key(config: dict) -> str:
    """Hash of what a training depends on: the run config without the test manifest and the
    test-only setting fields, so another test protocol reuses the trained checkpoint."""
    setting = {k: v for k, v in config["setting"].items() if k not in TEST_ONLY}
    return config_hash({**{k: config[k] for k in config if k != "manifest"}, "setting": setting})


def checkpoint_dir(cache: Path, config: dict) -> Path:
    """The checkpoint folder of the run whose config is ``config``."""
    dataset = config["setting"]["dataset"]
    return Path(cache) / "checkpoints" / dataset / f"{config['method']}-{training_key(config)}"


@dataclass(frozen=True, kw_only=True)
class TrainingState:
    """Where a training stands (from ``last.safetensors``).

    Attributes:
        step: episodes trained. stop: ``""`` while training, else ``plateau`` or ``budget``.
        validations: validations so far.
        trained: stopped, with its selected weights (``best.safetensors``) written.
    """

    step: int
    stop: str
    validations: int
    trained: bool


def _header(path: Path) -> dict:
    """The JSON header of a safetensors file (``{}`` if it is not one)."""
    try:
        with open(path, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            if size > MAX_HEADER:
                return {}
            return json.loads(fh.read(size))
    except (OSError, struct.error, ValueError):
        return {}


def training_state(folder: Path) -> TrainingState | None:
    """The training in checkpoint ``folder``; ``None`` when nothing was trained there yet."""
    meta = _header(Path(folder) / "last.safetensors").get("__metadata__") or {}
    try:
        progress = json.loads(meta[META_KEY])["progress"]
    except (KeyError, ValueError, TypeError):
        return None
    stop = progress.get("stop", "")
    trained = bool(stop) and (Path(folder) / "best.safetensors").is_file()
    return TrainingState(
        step=int(progress.get("step", 0)),
        stop=stop,
        validations=len(progress.get("history", [])),
        trained=trained,
    )


def records_done(path: Path) -> int:
    """Complete lines of a records file (a torn last line is not counted)."""
    try:
        return Path(path).read_bytes().count(b"\n")
    except OSError:
        return 0


@dataclass(frozen=True, kw_only=True)
class RunState:
    """One run folder as found on disk.

    Attributes:
        path: the folder. config: its ``config.json``. finished: ``summary.json`` exists.
        records: test episodes evaluated; episodes: test episodes planned.
        training: its training (``None``: not started, or no cache given).
        modified: newest modification time of its files (seconds since the epoch).
    """

    path: Path
    config: dict
    finished: bool
    records: int
    episodes: int
    training: TrainingState | None
    modified: float


def run_state(folder: Path, cache: Path | None = None) -> RunState | None:
    """The state of the run in ``folder`` (``None``: not a run folder). ``cache``: where its
    checkpoints are (``None``: the training is not looked up)."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
        episodes = int(config["setting"]["episodes"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    files = [p for p in Path(folder).iterdir() if p.is_file()]
    training = None
    if cache is not None and "method" in config:
        training = training_state(checkpoint_dir(cache, config))
    return RunState(
        path=Path(folder),
        config=config,
        finished=(Path(folder) / "summary.json").is_file(),
        records=records_done(Path(folder) / "episodes.jsonl"),
        episodes=episodes,
        training=training,
        modified=max(p.stat().st_mtime for p in files),
    )


def run_states(runs: Path, cache: Path | None = None) -> list[RunState]:
    """Every run folder under ``runs`` (``<runs>/<dataset>/<run>/config.json``), sorted."""
    found = (run_state(p.parent, cache) for p in sorted(Path(runs).glob("*/*/config.json")))
    return [s for s in found if s is not None]
