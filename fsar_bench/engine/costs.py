"""This machine's measured costs: ``<cache>/costs.json``, read by the run estimate.

Every cell that trains or evaluates records what it cost here, keyed by what the cost depends
on (:func:`cell_key`: method, way, shot, backbone, input size, device, intra-op threads and the
cells trained at once); every extraction records its seconds per frame (:func:`extract_key`).
A newer measurement replaces an older one. The file is small strict JSON, rewritten atomically
under a lock (``fsar_bench.files``), so parallel cells (``--jobs``) never lose an update.

A cell's costs (:class:`CellCost`, seconds per episode):

* ``train``: one training episode without validation: the training's wall time less its
  validations (each priced at ``eval`` per episode), over the episodes trained in that process;
* ``eval``: one evaluated episode (test or validation): the test evaluation's wall time over
  the episodes it evaluated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.files import locked, write_json

COSTS_FILE = "costs.json"
FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class CellCost:
    """Seconds per training episode (validation excluded) and per evaluated episode.

    Attributes:
        train, eval: the costs. source: ``"measured"`` (an earlier cell on this machine) or
            ``"probe"`` (:mod:`fsar_bench.engine.cost_probe`).
    """

    train: float
    eval: float
    source: str = "measured"


def cell_key(
    *,
    method: str,
    way: int,
    shot: int,
    backbone: str,
    size: int,
    device: str,
    threads: int,
    jobs: int,
) -> str:
    """What a cell's per-episode costs depend on, as one key."""
    return f"{method}|{way}w{shot}s|{backbone}@{size}|{device}|threads={threads}|jobs={jobs}"


def extract_key(*, backbone: str, size: int, device: str, threads: int) -> str:
    """What extraction's cost per frame depends on, as one key."""
    return f"extract|{backbone}@{size}|{device}|threads={threads}"


def read_costs(cache: Path) -> dict:
    """The costs file's content (``{"cells": {...}, "extract": {...}}``; empty when absent or
    unreadable: estimates then probe)."""
    try:
        data = json.loads((Path(cache) / COSTS_FILE).read_text())
    except (OSError, ValueError):
        return {"cells": {}, "extract": {}}
    if data.get("format") != FORMAT:
        return {"cells": {}, "extract": {}}
    return {"cells": data.get("cells", {}), "extract": data.get("extract", {})}


def cell_cost(costs: dict, key: str) -> CellCost | None:
    """The measured cost of ``key``, else that of the same cell at any ``jobs`` (``None``: none
    measured)."""
    cells = costs["cells"]
    if key in cells:
        return CellCost(train=cells[key]["train"], eval=cells[key]["eval"])
    stem = key.rsplit("|jobs=", 1)[0]
    near = [v for k, v in sorted(cells.items()) if k.rsplit("|jobs=", 1)[0] == stem]
    return CellCost(train=near[0]["train"], eval=near[0]["eval"]) if near else None


def measured(
    *,
    train_seconds: float,
    trained: int,
    validation_episodes: int,
    eval_seconds: float,
    evaluated: int,
) -> CellCost | None:
    """A cell's costs from what one process did (module docstring); ``None`` unless it both
    trained and evaluated (``validation_episodes``: episodes its validations evaluated)."""
    if trained <= 0 or evaluated <= 0:
        return None
    per_eval = eval_seconds / evaluated
    pure = max(train_seconds - validation_episodes * per_eval, 0.1 * train_seconds)
    return CellCost(train=pure / trained, eval=per_eval)


def _update(cache: Path, section: str, key: str, value: dict) -> None:
    """Set ``section[key] = value`` in the costs file, under its lock."""
    path = Path(cache) / COSTS_FILE
    with locked(Path(cache) / (COSTS_FILE + ".lock")):
        data = read_costs(cache)
        data[section][key] = value
        write_json(path, {"format": FORMAT, **data})


def record_cell(cache: Path, key: str, *, cost: CellCost, episodes: int) -> None:
    """Store a measured cell cost (``episodes``: training episodes it was measured on)."""
    value = {"train": round(cost.train, 6), "eval": round(cost.eval, 6), "episodes": episodes}
    _update(cache, "cells", key, value)


def record_extract(cache: Path, key: str, *, seconds_per_frame: float, frames: int) -> None:
    """Store a measured extraction cost."""
    _update(cache, "extract", key, {"frame": round(seconds_per_frame, 8), "frames": frames})
