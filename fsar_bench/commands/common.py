"""What every command shares: typer options, the data source they build, progress, CPU settings.

Importing this module imports neither torch nor numpy (``--help`` and ``ls`` stay fast).
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Iterator
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
      1 GiB) instead of going back to the OS, which removed ~1.3 million page faults per 512
      frames of EfficientNet-Lite0 at 112 px.

    Measured on the project's 2-core machine while other processes used about 1.5 cores: forward
    rate 26 -> 150 frames/s (``benchmarks/bench_extract.py`` applies the same settings).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass


class Silent:
    """No progress: ``--quiet`` (the results only: the final output, and with
    ``--log-format json`` each cell's result line too), or a ``torchrun`` rank other than 0
    (``lines`` ``None`` and ``show`` false: nothing at all)."""

    takes_details = True

    def __init__(self, show: bool, lines=None) -> None:
        self.show_results, self.lines = show, lines

    def __call__(self, stage: str, done: int, total: int, **details) -> None:
        pass

    def cell(self, summary) -> None:
        if self.lines is not None:
            self.lines.cell(summary)

    def final(self, text: str) -> None:
        if self.lines is not None:
            self.lines.final(text)
        elif self.show_results:
            typer.echo(text)


class Bars:
    """Rich progress bars on stderr (one per stage); notes and cell results printed above."""

    takes_details = True

    def __init__(self, bar, description: str) -> None:
        self.bar, self.description = bar, description
        self.tasks: dict[str, int] = {}

    def __call__(self, stage: str, done: int, total: int, **details) -> None:
        from fsar_bench.commands.logs import details_text

        if "note" in details:
            self.bar.console.print(f"{stage}: {details['note']}", markup=False, highlight=False)
            return
        extra = ", ".join(details_text(details))
        label = f"{self.description}: {stage}" + (f" ({extra})" if extra else "")
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(label, total=total, completed=done)
        self.bar.update(self.tasks[stage], completed=done, total=total, description=label)

    def cell(self, summary) -> None:
        from fsar_bench.commands.logs import cell_result, cell_text

        self.bar.console.print(cell_text(cell_result(summary)), markup=False, highlight=False)

    def final(self, text: str) -> None:
        typer.echo(text)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(description: str, unit: str | None = None, show: bool = True, output=None) -> Iterator:
    """The command's progress reporter (see :mod:`fsar_bench.commands.logs`): a progress
    callback ``update(stage, done, total)`` with ``cell(summary)`` and ``final(text)``.

    Args:
        description: the command's subject (the dataset), the prefix of every bar and line.
        unit: what ``done`` counts (a rate in ``unit``/s is shown); ``None``: items.
        show: ``False`` (a ``torchrun`` rank other than 0): nothing is printed.
        output: :class:`~fsar_bench.options.common.OutputOptions` (``None``: the defaults).
    """
    from fsar_bench.commands.logs import Lines
    from fsar_bench.options.common import OutputOptions

    output = output or OutputOptions()
    if not show or output.quiet:
        json_lines = show and output.log_format == "json"
        lines = Lines(description, "", sys.stdout, "json", output.log_every) if json_lines else None
        yield Silent(show, lines)
        return
    terminals = _is_terminal(sys.stdout), _is_terminal(sys.stderr)
    if output.log_format == "json" or not all(terminals):
        stream = sys.stdout if output.log_format == "json" or not terminals[0] else sys.stderr
        lines = Lines(description, unit or "items", stream, output.log_format, output.log_every)
        lines.beat.start()
        try:
            yield lines
        finally:
            lines.stopped.set()
        return
    with _rich_progress(unit) as bar:
        yield Bars(bar, description)


def _rich_progress(unit: str | None):
    """A transient rich ``Progress`` on stderr with a rate column in ``unit``/s."""
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
    return Progress(*cols, console=Console(stderr=True), transient=True)
