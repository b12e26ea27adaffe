"""Plain-text tables for ``fsar-bench ls`` and ``prepare`` (no torch, no rich: fast start-up)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fsar_bench.errors import FsarError

KINDS = ("datasets", "methods", "backbones", "protocols", "runs")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _rows(registry, *columns: Callable[[Any], object], last: str = "title") -> list[tuple]:
    """Per entry of ``registry.catalog()``: name, the columns, origin, then the field ``last``.

    A family row and a plugin not loaded yet (listing imports no plugin module) have ``-`` in
    the columns and their family title or ``"module:attr"`` last.
    """
    rows = []
    for item in registry.catalog():
        entry = item.entry
        cells = [col(entry) if entry is not None else "-" for col in columns]
        end = getattr(entry, last) if entry is not None else item.about
        rows.append((item.name, *cells, item.origin, end))
    return rows


def listing(what: str) -> str:
    """The table for ``fsar-bench ls WHAT`` of a registry (with each entry's origin: built-in
    or plugin); ``ls runs`` is :func:`fsar_bench.report.ls_runs.runs_listing`."""
    import difflib

    kind = what.lower().rstrip("s") + "s"
    aliases = lambda e: ",".join(e.aliases)  # noqa: E731
    if kind == "datasets":
        from fsar_bench.data.datasets import DATASETS

        classes = lambda d: "/".join(str(d.classes[s]) for s in d.classes)  # noqa: E731
        rows = _rows(DATASETS, aliases, classes)
        return table(("name", "aliases", "classes tr/va/te", "origin", "title"), rows)
    if kind == "methods":
        from fsar_bench.methods import METHODS

        rows = _rows(METHODS, aliases, lambda m: m.input_kind)
        return table(("name", "aliases", "input", "origin", "title"), rows)
    if kind == "backbones":
        from fsar_bench.features import BACKBONES

        rows = _rows(BACKBONES, lambda b: b.channels, lambda b: b.default_size, last="weights")
        return table(("name", "channels", "size", "origin", "weights"), rows)
    if kind == "protocols":
        from fsar_bench.episodes.protocols import PROTOCOLS

        rows = _rows(PROTOCOLS, lambda p: p.episodes, lambda p: p.repeats, lambda p: p.query)
        return table(("name", "episodes", "repeats", "query/class", "origin", "title"), rows)
    close = difflib.get_close_matches(what, KINDS, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    raise FsarError(f"cannot list {what!r}.{hint} Choose from: {', '.join(KINDS)}.")


def prepare_table(info, root: Path, reports) -> str:
    """The per-split report of ``fsar-bench prepare``."""
    rows = [
        (
            r.split,
            r.classes,
            r.listed,
            r.found,
            r.missing,
            r.unreadable,
            r.ambiguous,
            ", ".join(r.missing_examples),
        )
        for r in reports
    ]
    head = ("split", "classes", "listed", "found", "missing", "unreadable", "ambiguous", "e.g.")
    return f"{info.name} at {root}\n" + table(head, rows)
