"""Plain-text tables for ``fsar-bench ls`` and ``prepare`` (no torch, no rich: fast start-up)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fsar_bench.errors import FsarError

KINDS = ("datasets", "methods", "backbones", "protocols")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A left-aligned text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def listing(what: str) -> str:
    """The table for ``fsar-bench ls WHAT``."""
    import difflib

    kind = what.lower().rstrip("s") + "s"
    if kind == "datasets":
        from fsar_bench.data.datasets import DATASETS

        rows = [
            (d.name, ",".join(d.aliases), "/".join(str(d.classes[s]) for s in d.classes), d.title)
            for d in DATASETS
        ]
        return table(("name", "aliases", "classes tr/va/te", "title"), rows)
    if kind == "methods":
        from fsar_bench.methods import METHODS

        rows = [(m.name, ",".join(m.aliases), m.input_kind, m.title) for m in METHODS]
        return table(("name", "aliases", "input", "title"), rows)
    if kind == "backbones":
        from fsar_bench.features import BACKBONES

        rows = [(b.name, b.channels, b.default_size, b.weights) for b in BACKBONES]
        return table(("name", "channels", "size", "weights"), rows)
    if kind == "protocols":
        from fsar_bench.episodes.protocols import PROTOCOLS

        rows = [(p.name, p.episodes, p.repeats, p.query, p.title) for p in PROTOCOLS]
        return table(("name", "episodes", "repeats", "query/class", "title"), rows)
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
