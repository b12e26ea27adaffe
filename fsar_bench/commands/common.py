"""What every command shares: the progress display and the process settings for the CPU.

Importing this module imports neither torch nor numpy (``--help`` and ``ls`` stay fast).
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager


def tune_cpu() -> None:
    """Process settings for CPU inference on a shared machine; effective before torch is imported.

    * ``OMP_WAIT_POLICY=PASSIVE`` (unless set): idle OpenMP threads sleep instead of spinning.
    * glibc ``mallopt``: freed activation buffers stay in the heap (mmap and trim thresholds
      1 GiB) instead of going back to the OS (page faults per batch of frames).

    Together they raise the forward rate several times on a shared machine (measured:
    ``docs/performance.md``; ``benchmarks/bench_extract.py`` applies the same settings).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


@contextmanager
def progress(description: str, unit: str | None = None, show: bool = True):
    """A rich progress bar on stderr; yields ``update(stage, done, total)``.

    Args:
        description: prefix of every bar (one bar per stage).
        unit: show a rate in ``unit``/s (e.g. ``"videos"``); ``None``: no rate column.
        show: ``False`` (a ``torchrun`` rank other than 0): nothing is drawn.
    """
    if not show:
        yield lambda stage, done, total: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed:.1f} {unit}/s" if task.speed else f"-- {unit}/s")

    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    cols += [Rate()] if unit else []
    cols += [TimeElapsedColumn(), TimeRemainingColumn()]
    with Progress(*cols, console=Console(stderr=True), transient=True) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{description}: {stage}", total=total, completed=done)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
