"""The results store: plain files, one folder per evaluated (method, setting).

``<runs>/<dataset>/<run name>/``:

* ``config.json``: the resolved configuration (method config, training config, features,
  protocol, manifest hash) whose hash is the run id;
* ``episodes.jsonl``: one record per test episode (``episode, correct, n_query, pred``),
  written by :class:`RecordSink` and read by :func:`read_records`;
* ``summary.json``: mean, 95% interval and its convention, best validation accuracy, training
  history, versions and timings. Written last: a run with a summary is finished.

Reports read these files only (:mod:`fsar_bench.results.summary`); they never re-run a model.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fsar_bench import __version__


def config_hash(config: dict) -> str:
    """Short, stable hash of a JSON-able config."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def versions() -> dict[str, str]:
    import numpy
    import torch

    return {
        "fsar_bench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


@dataclass(frozen=True, kw_only=True)
class RunDir:
    """A run's folder and files."""

    path: Path

    @classmethod
    def create(cls, runs: Path, dataset: str, name: str, config: dict) -> RunDir:
        path = runs / dataset / f"{name}-{config_hash(config)}"
        path.mkdir(parents=True, exist_ok=True)
        cfg_file = path / "config.json"
        text = json.dumps(config, sort_keys=True, indent=1)
        if cfg_file.is_file() and cfg_file.read_text() != text:
            raise RuntimeError(f"{cfg_file} holds another config for the same run id")
        cfg_file.write_text(text)
        return cls(path=path)

    @property
    def records(self) -> Path:
        return self.path / "episodes.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    def finished(self) -> bool:
        return self.summary_file.is_file()

    def write_summary(self, summary: dict) -> None:
        tmp = self.summary_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, sort_keys=True, indent=1))
        tmp.replace(self.summary_file)


def read_records(path: Path) -> list[dict]:
    """Finished per-episode records; a torn last line (killed mid-write) is dropped and removed."""
    if not path.is_file():
        return []
    lines = path.read_bytes().split(b"\n")
    good: list[dict] = []
    for line in lines:
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except ValueError:
            break
    if [r["episode"] for r in good] != list(range(len(good))):
        raise ValueError(f"{path}: episode records out of order; delete it to re-evaluate")
    if len(good) != sum(1 for line in lines if line.strip()):  # drop a torn last line
        path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in good))
    return good


def accuracies(records: list[dict]) -> np.ndarray:
    """Per-episode accuracy in percent, in episode order."""
    return np.array([100.0 * r["correct"] / r["n_query"] for r in records])


class RecordSink:
    """Collects records; with a path, appends each chunk as JSONL and fsyncs now and then."""

    def __init__(self, path: Path | None, done: list[dict], sync_seconds: float) -> None:
        self.done = done
        self.fh = None
        self.sync_seconds = sync_seconds
        self.synced = time.monotonic()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(path, "a")

    def write(self, first: int, pred: np.ndarray, labels: np.ndarray) -> None:
        correct = (pred == labels).sum(1).tolist()
        recs = [
            {"episode": first + i, "correct": c, "n_query": len(p), "pred": p}
            for i, (c, p) in enumerate(zip(correct, pred.tolist()))
        ]
        self.done.extend(recs)
        if self.fh:
            self.fh.write("".join(map(_jsonl, recs)))
            self.fh.flush()
            if time.monotonic() - self.synced >= self.sync_seconds:
                self.sync()

    def sync(self) -> None:
        os.fsync(self.fh.fileno())
        self.synced = time.monotonic()

    def close(self) -> None:
        if self.fh:
            self.fh.flush()
            self.sync()
            self.fh.close()


def _jsonl(rec: dict) -> str:
    """``json.dumps(rec) + "\\n"`` for a record of ints (about twice as fast)."""
    pred = ", ".join(map(str, rec["pred"]))
    return (
        f'{{"episode": {rec["episode"]}, "correct": {rec["correct"]}, '
        f'"n_query": {rec["n_query"]}, "pred": [{pred}]}}\n'
    )
