"""The results store: plain files, one folder per evaluated (method, setting).

``<runs>/<dataset>/<run name>/``:

* ``config.json``: the resolved configuration (method config, training config, features,
  protocol, manifest hash) whose hash is the run id;
* ``episodes.jsonl``: one record per test episode (``episode, correct, n_query, pred``),
  written by :class:`RecordSink` and read by :func:`read_records`;
* ``summary.json``: mean, 95% interval and its convention, best validation accuracy, training
  history, versions and timings. Written last: a run with a summary is finished;
* ``timing.json``: the evaluation's seconds so far, summed over the processes that resumed it.

One process writes a run folder at a time (:meth:`RunDir.lock`, an advisory lock beside the
folder); every file but the records is written atomically (:mod:`fsar_bench.files`). The
records file is append-only (one fsynced append per chunk): a torn last line (a killed writer)
is dropped and redone, and records beyond the manifest are refused. The folder is created
when the evaluation starts, so a run that fails before it leaves no folder.

Reports read these files only (:mod:`fsar_bench.results.summary`); they never re-run a model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fsar_bench import __version__, faults
from fsar_bench.errors import FsarError
from fsar_bench.files import (
    owned,
    read_json,
    write_bytes,
    write_error,
    write_json,
)

RECORD_KEYS = ("episode", "correct", "n_query", "pred")


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
    def at(cls, runs: Path, dataset: str, name: str, config: dict) -> RunDir:
        """The folder of the run ``name`` with ``config`` (nothing is created)."""
        return cls(path=Path(runs) / dataset / f"{name}-{config_hash(config)}")

    @classmethod
    def create(cls, runs: Path, dataset: str, name: str, config: dict) -> RunDir:
        """:meth:`at`, with the folder and its ``config.json`` written (:meth:`open`)."""
        run = cls.at(runs, dataset, name, config)
        run.open(config)
        return run

    def lock(self, active: bool = True) -> contextlib.AbstractContextManager[None]:
        """Hold the run's lock (``.<folder>.lock`` beside it): one writer at a time; a second
        process waits, then finds the finished run. ``active=False``: no lock (other ranks)."""
        return owned(self.path, what=f"run {self.path}", active=active)

    def open(self, config: dict) -> None:
        """Create the folder and write ``config.json`` unless it already holds ``config`` (a
        finished run in a read-only folder is never written); a torn one is rewritten."""
        cfg_file = self.path / "config.json"
        found = read_json(cfg_file)
        if found == json.loads(json.dumps(config)):
            return
        if found is not None:
            raise FsarError(
                f"{cfg_file} holds another config for the same run id; delete {self.path}"
            )
        write_json(cfg_file, config)

    @contextlib.contextmanager
    def removed_if_empty(self, active: bool = True) -> Iterator[None]:
        """On an error in the block, remove the folder if this block created it and it holds
        no record yet (a failed run leaves no empty run folder). ``active=False``: keep it."""
        existed = self.path.exists() or not active
        try:
            yield
        except BaseException:
            records = self.records
            if not existed and self.path.is_dir():
                if not records.is_file() or records.stat().st_size == 0:
                    for f in self.path.iterdir():
                        f.unlink()
                    self.path.rmdir()
            raise

    @property
    def records(self) -> Path:
        return self.path / "episodes.jsonl"

    @property
    def summary_file(self) -> Path:
        return self.path / "summary.json"

    @property
    def timing_file(self) -> Path:
        return self.path / "timing.json"

    def finished(self, config: dict | None = None) -> bool:
        """Whether a complete summary and every record of its manifest are stored (a torn
        summary or records file is redone, never trusted); with ``config``, a torn
        ``config.json`` of a finished run is rewritten (:meth:`open`)."""
        found = read_json(self.summary_file)
        try:
            episodes = found["setting"]["episodes"]
            done = isinstance(found["accuracy"], dict) and isinstance(episodes, int)
        except (TypeError, KeyError):
            return False
        done = done and len(read_records(self.records, episodes, repair=False)) == episodes
        if done and config is not None:
            self.open(config)
        return done

    def write_summary(self, summary: dict) -> None:
        write_json(self.summary_file, summary)


def _record(line: bytes) -> dict | None:
    """A records line as a record, ``None`` if it is not one (torn, garbage)."""
    try:
        rec = json.loads(line)
    except ValueError:
        return None
    ok = isinstance(rec, dict) and all(isinstance(rec.get(k), int) for k in RECORD_KEYS[:3])
    return rec if ok and isinstance(rec.get("pred", []), list) else None


def read_records(path: Path, expected: int | None = None, repair: bool = True) -> list[dict]:
    """Finished per-episode records, in episode order.

    A torn or unreadable line (a killed writer) and everything after it are dropped (the file
    is rewritten atomically, so those episodes are evaluated again; ``repair=False``, for
    readers that do not own the run: only ignored). ``expected``: the manifest's episode count;
    a file holding more records is refused with a one-line error.
    """
    if not path.is_file():
        return []
    lines = [line for line in path.read_bytes().split(b"\n") if line.strip()]
    good: list[dict] = []
    for line in lines:
        rec = _record(line)
        if rec is None:
            break
        good.append(rec)
    if [r["episode"] for r in good] != list(range(len(good))):
        raise FsarError(f"{path}: episode records out of order; delete it to re-evaluate")
    if expected is not None and len(good) > expected:
        raise FsarError(
            f"{path} holds {len(good)} episode records for a {expected}-episode manifest "
            "(another writer or another manifest); delete it to re-evaluate"
        )
    if repair and len(good) != len(lines):  # drop a torn tail
        write_bytes(path, b"".join(json.dumps(r).encode() + b"\n" for r in good))
    return good


def accuracies(records: list[dict]) -> np.ndarray:
    """Per-episode accuracy in percent, in episode order."""
    return np.array([100.0 * r["correct"] / r["n_query"] for r in records])


class Clock:
    """Seconds of one piece of work summed over the processes that did it: the total stored in
    ``path`` (JSON ``{key: seconds}``) by earlier, interrupted processes plus this one's."""

    def __init__(self, path: Path | None, key: str, resume: bool = True) -> None:
        self.path, self.key = path, key
        self.before = 0.0
        self.start = time.monotonic()
        if resume:
            self.restore()

    def restore(self) -> None:
        """Add the seconds stored by the earlier processes (none if the file is absent)."""
        found = read_json(self.path) if self.path is not None else None
        before = found.get(self.key) if isinstance(found, dict) else None
        self.before = float(before) if isinstance(before, int | float) else 0.0

    @property
    def seconds(self) -> float:
        return self.before + time.monotonic() - self.start

    def save(self) -> None:
        if self.path is not None:
            write_json(self.path, {self.key: round(self.seconds, 3)})


class RecordSink:
    """Collects records; with a path, appends each chunk as JSONL and fsyncs now and then
    (then the evaluation's :class:`Clock`, ``timing.json`` beside the records, is saved too).
    The file is opened at the first chunk (its folder must exist)."""

    def __init__(self, path: Path | None, done: list[dict], sync_seconds: float) -> None:
        self.done = done
        self.fh = None
        self.sync_seconds = sync_seconds
        self.synced = time.monotonic()
        self.path = path
        self.clock = Clock(path.with_name("timing.json") if path else None, "eval_seconds")

    def write(self, first: int, pred: np.ndarray, labels: np.ndarray) -> None:
        correct = (pred == labels).sum(1).tolist()
        recs = [
            {"episode": first + i, "correct": c, "n_query": len(p), "pred": p}
            for i, (c, p) in enumerate(zip(correct, pred.tolist()))
        ]
        self.done.extend(recs)
        if self.path is not None:
            if self.fh is None:  # opened on the first chunk: a finished file is not touched
                self.fh = self._io(lambda: open(self.path, "a"))
            self._io(lambda: self._append("".join(map(_jsonl, recs))))
            if time.monotonic() - self.synced >= self.sync_seconds:
                self.sync()

    def _append(self, text: str) -> None:
        """One chunk, flushed (the fault point lies in the middle of its last line: a kill
        leaves a torn line)."""
        cut = (text.rfind("\n", 0, len(text) - 1) + 1 + len(text)) // 2
        self.fh.write(text[:cut])
        if faults.armed():
            self.fh.flush()
            faults.point(self.path)
        self.fh.write(text[cut:])
        self.fh.flush()

    def _io(self, fn):
        """``fn()``; a full disk or a read-only folder as a one-line error."""
        try:
            return fn()
        except OSError as err:
            raise write_error(err, self.path) from err

    def sync(self) -> None:
        self._io(lambda: os.fsync(self.fh.fileno()))
        self.clock.save()
        self.synced = time.monotonic()

    def close(self) -> None:
        if self.fh:
            try:
                self._io(self.fh.flush)
                self.sync()
            finally:
                with contextlib.suppress(OSError):  # a failed flush was reported above
                    self.fh.close()


def _jsonl(rec: dict) -> str:
    """``json.dumps(rec) + "\\n"`` for a record of ints (about twice as fast)."""
    pred = ", ".join(map(str, rec["pred"]))
    return (
        f'{{"episode": {rec["episode"]}, "correct": {rec["correct"]}, '
        f'"n_query": {rec["n_query"]}, "pred": [{pred}]}}\n'
    )
