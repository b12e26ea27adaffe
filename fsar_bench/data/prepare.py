"""``fsar-bench prepare``: generate (synthetic) or index (real) a dataset; report what is there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fsar_bench.data.datasets import SPLITS, DatasetInfo
from fsar_bench.data.index import SplitIndex, build_index
from fsar_bench.errors import FsarError
from fsar_bench.progress import Progress


@dataclass(frozen=True, kw_only=True)
class SplitReport:
    """Per-split counts of a prepared dataset."""

    split: str
    classes: int
    listed: int
    found: int
    missing: int
    unreadable: int
    ambiguous: int
    missing_examples: tuple[str, ...]


def split_report(split: str, ix: SplitIndex) -> SplitReport:
    return SplitReport(
        split=split,
        classes=len(ix.split.classes),
        listed=len(ix.split.videos),
        found=len(ix.videos),
        missing=len(ix.missing),
        unreadable=sum(v.n_frames == 0 for v in ix.videos),
        ambiguous=ix.ambiguous,
        missing_examples=tuple(m[0] for m in ix.missing[:3]),
    )


def prepare(
    info: DatasetInfo,
    root: Path,
    cache: Path,
    variant: str = "",
    progress: Progress | None = None,
) -> tuple[list[SplitReport], dict[str, SplitIndex]]:
    """Generate a synthetic dataset if needed, index the data root, and report per split.

    A synthetic dataset is generated from its level's own configuration and seed
    (:func:`fsar_bench.data.synthetic.config_for`), never from a run's seed.

    The index is saved whatever is missing; :func:`check_missing` applies the policy after the
    report is shown, so nothing computed is lost.

    Returns:
        the per-split reports and the index.
    """
    if info.is_synthetic:
        from fsar_bench.data.synthetic import config_for, generate

        cb = (lambda i, n: progress("generate", i, n)) if progress else None
        generate(root, config_for(info.synthetic_preset), progress=cb)
    cb = (lambda i, n: progress("count frames", i, n)) if progress else None
    index = build_index(info, root, cache, variant, progress=cb)
    return [split_report(s, index[s]) for s in SPLITS], index


def check_missing(info: DatasetInfo, root: Path, reports: list[SplitReport], missing: str) -> None:
    """Apply the missing-video policy: ``"error"`` fails if anything listed is not usable."""
    lost = [r for r in reports if r.missing or r.unreadable]
    if lost and missing == "error":
        r = lost[0]
        raise FsarError(
            f"{info.name} under {root}: {sum(x.missing for x in reports)} listed videos "
            f"missing and {sum(x.unreadable for x in reports)} unreadable (e.g. {r.split}: "
            f"{', '.join(r.missing_examples) or 'unreadable videos'}); the index is saved, "
            f"pass --missing skip to use the videos that are there"
        )
