"""``fsar-bench ls runs``: the finished and unfinished runs of a results folder (no torch).

One row per run folder (:func:`fsar_bench.results.state.run_states`): dataset, method, setting,
training seed and how many trainings of the cell exist (runs that differ only in
``train.seed``), how far it got (finished; evaluating ``k/n`` test episodes; training at step
``s``; trained, not evaluated yet; started), accuracy, why training stopped and the age of its
newest file.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from fsar_bench.errors import FsarError
from fsar_bench.presentation.text import table
from fsar_bench.results.state import RunState, run_states
from fsar_bench.results.store import config_hash

HEAD = (
    *("dataset", "method", "setting", "seed", "trainings", "status"),
    *("accuracy", "stop", "age", "run"),
)


def age(seconds: float) -> str:
    """``"42 s"``, ``"7 min"``, ``"3.5 h"``, ``"12 d"``."""
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def seed_group(config: dict) -> str:
    """The cell and settings of a run without its training seed (its retrainings share it)."""
    train = {k: v for k, v in config.get("train_config", {}).items() if k != "seed"}
    return config_hash({**config, "train_config": train})


def status(run: RunState) -> str:
    """How far the run got, in words."""
    if run.finished:
        return "finished"
    if run.records:
        return f"evaluating {run.records:,}/{run.episodes:,}"
    if run.training is not None and run.training.trained:
        return f"trained ({run.training.step:,} episodes), not evaluated"
    if run.training is not None:
        return f"training: {run.training.step:,} episodes"
    return "started"


def _summary(run: RunState) -> dict:
    try:
        return json.loads((run.path / "summary.json").read_text()) if run.finished else {}
    except (OSError, ValueError):
        return {}


def _row(run: RunState, trainings: int, now: float) -> tuple:
    cfg, summary = run.config, _summary(run)
    st = cfg["setting"]
    acc = summary.get("accuracy", {})
    accuracy = f"{acc['mean']:.2f} +- {acc['ci95']:.2f}" if "mean" in acc else "-"
    stop = summary.get("stop_reason", "")
    if stop:
        stop = f"{stop} at {summary.get('train_episodes', 0):,}"
    seed = cfg.get("train_config", {}).get("seed", st.get("seed"))
    setting = f"{st['way']}w{st['shot']}s"
    method = cfg.get("method", "?")
    when = age(now - run.modified)
    cells = (st["dataset"], method, setting, seed, trainings, status(run), accuracy, stop or "-")
    return (*cells, when, run.path.name)


def runs_listing(runs: Path, cache: Path | None = None, now: float | None = None) -> str:
    """The table of ``fsar-bench ls runs`` for the results folder ``runs``; ``cache``: where
    the checkpoints are (unfinished runs then show their training's step)."""
    runs = Path(runs)
    if not runs.is_dir():
        raise FsarError(f"no results folder {runs}; pass --runs-dir DIR (where run wrote them)")
    states = run_states(runs, cache)
    now = time.time() if now is None else now
    groups = Counter(seed_group(s.config) for s in states)
    rows = [_row(s, groups[seed_group(s.config)], now) for s in states]
    done = sum(s.finished for s in states)
    foot = f"\n{done} finished, {len(states) - done} unfinished run(s) under {runs}"
    return (table(HEAD, rows) if rows else "(no runs)") + foot
