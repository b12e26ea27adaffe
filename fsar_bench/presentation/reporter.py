"""What a long command shows while it works: progress bars on a terminal, plain or JSON lines in
a log, or nothing (``--quiet``); each reporter is a progress callback with ``cell(summary)`` and
``final(text)`` (:mod:`fsar_bench.presentation.logs` has the line formats).

Importing this module imports neither torch nor numpy.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import typer


@dataclass(frozen=True, kw_only=True)
class Output:
    """The defaults of ``OutputOptions``: progress shown, text lines every 30 s in a log."""

    quiet: bool = False
    log_format: str = "text"
    log_every: float = 30.0


DEFAULT = Output()


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
        from fsar_bench.presentation.logs import details_text

        if "note" in details:
            self.bar.console.print(f"{stage}: {details['note']}", markup=False, highlight=False)
            return
        extra = ", ".join(details_text(details))
        label = f"{self.description}: {stage}" + (f" ({extra})" if extra else "")
        if stage not in self.tasks:
            self.tasks[stage] = self.bar.add_task(label, total=total, completed=done)
        self.bar.update(self.tasks[stage], completed=done, total=total, description=label)

    def cell(self, summary) -> None:
        from fsar_bench.presentation.logs import cell_result, cell_text

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
    """The command's progress reporter (see :mod:`fsar_bench.presentation.logs`): a progress
    callback ``update(stage, done, total)`` with ``cell(summary)`` and ``final(text)``.

    Args:
        description: the command's subject (the dataset), the prefix of every bar and line.
        unit: what ``done`` counts (a rate in ``unit``/s is shown); ``None``: items.
        show: ``False`` (a ``torchrun`` rank other than 0): nothing is printed.
        output: how to report, with ``quiet``, ``log_format`` and ``log_every`` (the command's
            :class:`~fsar_bench.options.common.OutputOptions`; ``None``: :data:`DEFAULT`).
    """
    from fsar_bench.presentation.logs import Lines

    output = output or DEFAULT
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
