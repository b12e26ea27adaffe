"""Progress callbacks: the plain ``progress(stage, done, total)`` every long function takes, and
the details a richer listener receives.

Library functions report progress by calling ``progress(stage, done, total)``; any callable of
that shape works. A listener that sets ``takes_details = True`` (the command line's progress
bars and log lines, :mod:`fsar_bench.presentation.logs`) is also given keyword details through
:func:`emit`: a training's latest validation accuracy, learning rate and loss, or a ``note``
(a line of text, e.g. the feature cache's size estimate before an extraction). Plain callables
never receive keywords, so existing callbacks keep working.

Imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[..., None]
"""``progress(stage, done, total)``: called as a stage advances, ``done`` of ``total`` units
(one definition for the whole package; see :func:`emit` for the keyword details)."""


def emit(progress: Progress | None, stage: str, done: int, total: int, **details: Any) -> None:
    """Report ``done`` of ``total`` in ``stage``; ``details`` reach only a listener with
    ``takes_details`` (a plain callable gets ``(stage, done, total)``)."""
    if progress is None:
        return
    if getattr(progress, "takes_details", False):
        progress(stage, done, total, **details)
    else:
        progress(stage, done, total)


def note(progress: Progress | None, stage: str, text: str) -> None:
    """A line of text for a listener with ``takes_details`` (plain callables are not called)."""
    if progress is not None and getattr(progress, "takes_details", False):
        progress(stage, 0, 0, note=text)


def prefixed(progress: Progress | None, prefix: str, **details: Any) -> Progress | None:
    """``progress`` with every stage named ``"<prefix> <stage>"`` and default ``details`` (e.g.
    a run's extraction: ``prefixed(progress, "extract", unit="videos")``)."""
    if progress is None:
        return None

    def update(stage: str, done: int, total: int, **more: Any) -> None:
        emit(progress, f"{prefix} {stage}", done, total, **(details | more))

    update.takes_details = True
    return update
