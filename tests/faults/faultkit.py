"""Helpers of the fault-injection tests: the warm fork server, tiny commands, tree snapshots.

A test runs a command with ``FSAR_FAULT`` set (a kill or a full disk at one write site, see
:mod:`fsar_bench.faults`), then the same command again without it, and compares every file the
commands wrote with an uninterrupted run's: the same bytes, apart from the folder's own path
and wall-clock timings.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ZYGOTE = Path(__file__).with_name("zygote.py")
KILLED = -9  # exit status of a child that received SIGKILL
TIMINGS = {"train_seconds", "eval_seconds", "seconds"}  # wall-clock keys of stored JSON


class Zygote:
    """Client of :mod:`zygote`: ``run`` forks one child per job, all at once."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ZYGOTE)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"the fork server did not start: {line!r}")

    def run(self, jobs: list[dict], timeout: float = 300) -> list[int]:
        """Exit statuses of ``jobs`` (``{"argv", "cwd", "log", "env"}``), run concurrently."""
        self.proc.stdin.write(json.dumps({"jobs": jobs, "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


@dataclass
class Bench:
    """One working folder (``data``, ``cache``, ``runs``, ``reports``) and its commands."""

    root: Path
    zygote: Zygote

    def job(self, argv: list[str] | str, fault: str = "") -> dict:
        """A command line, or the name of a function of this module (``"tiny_data"``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        env = {"FSAR_FAULT": fault}
        out = {"cwd": str(self.root), "log": str(self.root / "log.txt"), "env": env}
        return out | ({"call": argv, "args": ["data"]} if isinstance(argv, str) else {"argv": argv})

    def run(self, argv: list[str] | str, fault: str = "") -> int:
        return self.zygote.run([self.job(argv, fault)])[0]

    def log(self) -> str:
        path = self.root / "log.txt"
        return path.read_text() if path.is_file() else ""

    def last_error(self) -> str:
        """The last ``error:`` line the commands printed."""
        lines = [ln for ln in self.log().splitlines() if ln.startswith("error:")]
        return lines[-1] if lines else ""


RUN = [
    "run",
    "--methods",
    "protonet,otam",
    "--shots",
    "1",
    "--way",
    "2",
    "--size",
    "64",
    "--frames",
    "4",
    "--episodes",
    "6",
    "--data-root",
    "data",
    "--cache-dir",
    "cache",
    "--runs-dir",
    "runs",
    "--workers",
    "0",
    "--set",
    "train.episodes=4",
    "--set",
    "train.val_every=2",
    "--set",
    "train.val_episodes=2",
]
REPORT = ["report", "--runs", "runs", "--out", "reports", "--figures", "png"]
AEM = [
    "aem",
    "synthetic-mid",
    "--data-root",
    "data",
    "--cache-dir",
    "cache",
    "--out",
    "reports/analysis",
    "--size",
    "64",
    "--frames",
    "4",
    "--workers",
    "0",
    "--set",
    "probe.epochs=2",
    "--set",
    "probe.score_fraction=0.5",
]


PROFILE = [
    "profile",
    "synthetic-mid",
    "--methods",
    "protonet",
    "--way",
    "2",
    "--episodes",
    "6",
    "--out",
    "reports/profile",
    *RUN[RUN.index("--size") : RUN.index("--episodes")],
    *RUN[RUN.index("--data-root") :],
    *AEM[AEM.index("--set", AEM.index("--workers")) :],
]
SWEEP = Path("reports") / "sweep-evolution"
ANALYSED = ("data", "cache/features", "cache/checkpoints", "cache/probes", "runs")


def tiny_sweep(_: str) -> None:
    """The sweep files of two levels made of the reference profile (a real sweep generates
    every level's full synthetic dataset)."""
    from fsar_bench.analysis.measures.outputs import output_lock
    from fsar_bench.analysis.sweep.results import ProfilePoint
    from fsar_bench.analysis.sweep.table import write_sweep

    point = json.loads(Path("reports/profile/synthetic-mid/profile.json").read_text())
    points = [
        ProfilePoint.from_json(point | {"dataset": f"synthetic-evolution-{lv}"})
        for lv in ("low", "high")
    ]
    with output_lock(SWEEP):
        write_sweep(SWEEP, "evolution", ["low", "high"], points)


def tiny_data(folder: Path) -> Path:
    """A synthetic dataset of 2 + 2 + 2 classes of 3 videos (64 px, 8 frames)."""
    from fsar_bench.data.synthetic import generate, preset

    config = preset(
        "mid",
        train_classes=2,
        val_classes=2,
        test_classes=2,
        videos_per_class=3,
        frames=8,
        size=64,
    )
    return generate(folder, config)


def copy_tree(src: Path, dst: Path, parts: tuple[str, ...]) -> None:
    """Copy the named parts (folders, relative to the bench folder) of one bench into another."""
    for part in parts:
        if (src / part).is_dir():
            shutil.copytree(src / part, dst / part, symlinks=True)


def _files(folder: Path):
    if folder.is_file():
        return [folder]
    return sorted(folder.rglob("*"))


def snapshot(root: Path, parts: tuple[str, ...]) -> dict[str, bytes]:
    """Every file under ``root/<part>``: bytes, the folder's own path replaced, timings and
    lock files left out (``timing.json``: wall time; locks: empty markers)."""
    out = {}
    for part in parts:
        for path in _files(root / part):
            if not path.is_file() or path.name.endswith(".lock") or path.name == "timing.json":
                continue
            data = _canonical(path, path.read_bytes().replace(str(root).encode(), b"<ROOT>"))
            rel = path.relative_to(root).as_posix()
            if rel.startswith("cache/index/"):  # named by the data root's absolute path
                rel = re.sub(r"-[0-9a-f]{12}\.json$", ".json", rel)
            out[rel] = data
    return out


def _untimed(value):
    """A JSON value without its wall-clock keys (:data:`TIMINGS`), recursively."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _canonical(path: Path, data: bytes) -> bytes:
    """JSON files and safetensors metadata without wall-clock timings; other files as they are."""
    if path.suffix == ".json":
        try:
            return json.dumps(_untimed(json.loads(data)), sort_keys=True).encode()
        except ValueError:
            return data  # not JSON (torn): compared as it is
    if path.suffix == ".safetensors" and len(data) >= 8:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        meta = {k: _untimed(json.loads(v)) for k, v in header.pop("__metadata__", {}).items()}
        return json.dumps([header, meta], sort_keys=True).encode() + data[8 + n :]
    return data


def differences(got: dict[str, bytes], want: dict[str, bytes]) -> list[str]:
    """Files missing, extra or with other bytes (empty: identical)."""
    names = sorted(set(got) | set(want))
    return [n for n in names if got.get(n) != want.get(n)]
