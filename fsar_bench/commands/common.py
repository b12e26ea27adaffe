"""What every command shares: typer options, the data source they build, progress, CPU settings.

Importing this module imports neither torch nor numpy (``--help`` and ``ls`` stay fast).
"""

from __future__ import annotations

import ctypes
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from fsar_bench.errors import FsarError

if TYPE_CHECKING:
    from fsar_bench.data.source import DataSource

DatasetOpt = typer.Option("synthetic", "--dataset", "-d", help="Dataset (fsar-bench ls datasets).")
DataRoot = typer.Option(None, "--data-root", help="The dataset's folder (else FSAR_DATA_ROOT).")
CacheDir = typer.Option(None, "--cache-dir", help="Cache folder (else FSAR_CACHE_DIR).")
Missing = typer.Option("error", "--missing", help="Listed videos not found: error | skip.")
Variant = typer.Option("", "--variant", help="Published list variant (e.g. ta2n, hyrsm).")
Device = typer.Option(None, "--device", help="cpu | cuda (default: CUDA when present).")
Workers = typer.Option(None, "--workers", min=0, help="Decoding processes (default: cores - 1).")
Weights = typer.Option(None, "--weights", help="Backbone weight file.")
RandomInit = typer.Option(False, "--random-init", help="Random backbone weights (tests only).")
Size = typer.Option(None, "--size", help="Input side in pixels (default: the backbone's).")
Frames = typer.Option(8, "--frames", help="Frames per video (T).")


def data_source(
    dataset: str,
    data_root: Path | None,
    cache_dir: Path | None,
    variant: str = "",
    missing: str = "error",
) -> DataSource:
    """The one object every command passes on (see :mod:`fsar_bench.data.source`)."""
    from fsar_bench.data.source import DataSource

    return DataSource.resolve(
        dataset, data_root=data_root, cache_dir=cache_dir, variant=variant, missing=missing
    )


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [t.strip() for t in text.split(",") if t.strip()]


def csv_ints(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated integers of ``option``, or a one-line error."""
    try:
        return tuple(int(k) for k in csv_list(text))
    except ValueError as err:
        raise FsarError(f"{option} {text!r}: expected comma-separated integers like 1,5") from err


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
