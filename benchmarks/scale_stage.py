"""One stage of ``bench_scale.py``: commands run one after the other, each in its own process,
timed, with the stage's own peak memory.

Time, per command: ``seconds`` (wall clock) and ``cpu_seconds`` (user and system time of the
command and its waited-for descendants, e.g. DataLoader workers: far less sensitive than the
wall clock to other processes on a shared machine).

Memory, per command (the stage reports the maximum over its commands):

* ``peak_rss_mb``: the kernel's peak resident set (``ru_maxrss``) of the command's process or of
  its largest descendant (``os.wait4`` on the child: exact, but a maximum over processes, not a
  sum; it counts file pages a memory map touched, which the kernel may drop);
* ``peak_tree_pss_mb`` / ``peak_tree_anon_mb``: the largest sum over the process tree (command
  and its DataLoader workers) of the proportional set size and of the anonymous memory (what
  cannot be dropped without swap), sampled from ``/proc/<pid>/smaps_rollup`` every
  ``SAMPLE_S`` seconds (so a peak shorter than that can be missed).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

SAMPLE_S = 0.25


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            out += [int(c) for c in text.split()]
    except OSError:
        pass
    return out


def _tree(pid: int) -> list[int]:
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


def _rollup(pid: int) -> tuple[int, int]:
    """(Pss, Anonymous) in kB of one process; zeros if it is gone."""
    pss = anon = 0
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key == "Pss":
                pss = int(rest.split()[0])
            elif key == "Anonymous":
                anon = int(rest.split()[0])
    except (OSError, ValueError):
        pass
    return pss, anon


class Sampler(threading.Thread):
    """Peak sums of Pss and anonymous memory over a process tree (see the module docstring)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.pss, self.anon = pid, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            sums = [_rollup(p) for p in _tree(self.pid)]
            self.pss = max(self.pss, sum(s[0] for s in sums))
            self.anon = max(self.anon, sum(s[1] for s in sums))
            self.stop.wait(SAMPLE_S)


def run_command(argv: list[str], log: Path, env: dict, timeout: float) -> dict:
    """Run ``argv`` with stdout and stderr appended to ``log``; its seconds and memory.

    Raises:
        RuntimeError: the command failed or ran past ``timeout`` seconds (then it is killed).
    """
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(argv)}\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        sampler = Sampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stop.set()
            sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(
            f"{argv[3:5]} exited with {proc.returncode} after {seconds:.0f} s: {log}"
        )
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "peak_tree_pss_mb": round(sampler.pss / 1024, 1),
        "peak_tree_anon_mb": round(sampler.anon / 1024, 1),
    }


def run_stage(commands: list[list[str]], log: Path, env: dict, timeout: float) -> dict:
    """Commands one after the other: seconds summed, memory the maximum, each command kept."""
    parts = [run_command(argv, log, env, timeout) for argv in commands]
    keys = ("peak_rss_mb", "peak_tree_pss_mb", "peak_tree_anon_mb")
    return {
        "seconds": round(sum(p["seconds"] for p in parts), 2),
        "cpu_seconds": round(sum(p["cpu_seconds"] for p in parts), 2),
        **{k: max(p[k] for p in parts) for k in keys},
        "commands": [{"argv": argv[3:], **p} for argv, p in zip(commands, parts)],
    }
