"""A cell's interval over its trainings and test episodes (and test classes), and the paired
comparison of two cells, from stored runs only.

A cell's trainings (:func:`fsar_bench.report.seeds.group_trainings`) share one test manifest,
so their per-episode accuracies form ``acc [R, E]`` (episodes in manifest order), which
:func:`fsar_bench.results.hierarchy.cell_interval` turns into the mean over trainings and its
interval; two methods' trainings, paired by training seed, go to
:func:`~fsar_bench.results.hierarchy.paired_comparison`. With the class level
(:class:`~fsar_bench.options.intervals.IntervalOptions`) each episode's test classes ``[E,
way]`` are read from the run's manifest (``RunSummary.manifest_file``, or the ``manifests``
folder beside the run), as data, and checked against the run's manifest hash.
What each interval covers: docs/statistics.md.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fsar_bench.episodes.manifest import load_manifest
from fsar_bench.errors import FsarError
from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.report.seeds import pair_trainings
from fsar_bench.results.hierarchy import (
    CellInterval,
    PairedComparison,
    cell_interval,
    paired_comparison,
)
from fsar_bench.results.stats import PairedDifference, paired_difference
from fsar_bench.results.store import accuracies, read_records
from fsar_bench.results.summary import RunSummary


@dataclass(frozen=True, kw_only=True)
class CellStats:
    """One cell over its trainings.

    Attributes:
        runs: the trainings, by training seed. interval: their
            :class:`~fsar_bench.results.hierarchy.CellInterval` (``None`` with fewer than two
            test episodes). n_classes: test classes in the manifest (``None``: not read).
        class_level: the interval resamples test classes too.
    """

    runs: tuple[RunSummary, ...]
    interval: CellInterval | None
    n_classes: int | None
    class_level: bool

    @property
    def trainings(self) -> int:
        return len(self.runs)


@dataclass(frozen=True, kw_only=True)
class PairStats:
    """Method A minus the baseline B on one cell.

    Attributes:
        pairs: trainings paired. by_seed: paired by training seed (``False``: the cells share
            no seed; paired by order). comparison: the two-level difference and ``P(A > B)``.
        episode_level: the paired t-test and Wilcoxon over the episodes, for one training each
            (``None`` otherwise: they would treat the trainings' episodes as independent).
        class_level: as in :class:`CellStats`.
    """

    pairs: int
    by_seed: bool
    comparison: PairedComparison
    episode_level: PairedDifference | None
    class_level: bool


@functools.lru_cache(maxsize=4096)
def _accuracies(records: str, episodes: int, stamp: tuple[int, int]) -> np.ndarray:
    """A run's per-episode accuracies (more records than its manifest's ``episodes``: a
    one-line error); the report reads, never repairs, the file."""
    return accuracies(read_records(Path(records), episodes, repair=False))


def episode_matrix(runs: tuple[RunSummary, ...]) -> np.ndarray:
    """Per-episode accuracy (percent) of each training: ``[R, E]``, episodes in manifest
    order (one test manifest: ``E`` equal). Each file is read once (while unchanged)."""
    rows = []
    for s in runs:
        st = s.records_file.stat()
        rows.append(
            _accuracies(str(s.records_file), s.setting.episodes, (st.st_mtime_ns, st.st_size))
        )
    return np.stack(rows)


def manifest_path(s: RunSummary) -> Path:
    """The run's test manifest: ``manifest_file``, else the file of that name in the
    ``manifests`` folder beside the run (a moved results folder)."""
    given = Path(s.manifest_file)
    beside = Path(s.dir).parent / "manifests" / given.name
    return given if given.is_file() or not beside.is_file() else beside


@functools.lru_cache(maxsize=64)
def _manifest_classes(path: str, sha256: str) -> np.ndarray:
    manifest = load_manifest(Path(path))
    if manifest.sha256 != sha256:
        raise FsarError(
            f"{path} is not the manifest its runs were tested on (hash {manifest.sha256[:12]}, "
            f"runs: {sha256[:12]}); restore it or use --ci episodes"
        )
    names = np.array([ep["classes"] for ep in manifest.episodes])  # [E, way]
    return np.unique(names, return_inverse=True)[1].reshape(names.shape)


def test_classes(s: RunSummary) -> np.ndarray:
    """Integer ids ``[E, way]`` of each test episode's classes (from the run's manifest)."""
    path = manifest_path(s)
    if not path.is_file():
        raise FsarError(
            f"run {s.dir}: its test manifest {s.manifest_file} is missing; the class-level "
            "interval reads its episodes' classes (restore it or use --ci episodes)"
        )
    return _manifest_classes(str(path), s.manifest)


def _classes(s: RunSummary, opts: IntervalOptions) -> tuple[np.ndarray | None, int | None]:
    """``(classes [E, way] or None, number of test classes or None)`` for one cell: the class
    level when ``opts`` asks for it; the count is read whenever the manifest is at hand."""
    if opts.ci == "episodes":
        if not manifest_path(s).is_file():
            return None, None
        return None, int(np.unique(test_classes(s)).size)
    classes = test_classes(s)
    k = int(np.unique(classes).size)
    return (classes if opts.class_level(k, s.setting.way) else None), k


def cell_stats(runs: tuple[RunSummary, ...], opts: IntervalOptions) -> CellStats:
    """The cell's interval over its trainings ``runs`` (one test manifest)."""
    acc = episode_matrix(runs)
    classes, k = _classes(runs[0], opts)
    interval = None
    if acc.shape[1] >= 2:
        interval = cell_interval(acc, classes=classes, n_boot=opts.n_boot, seed=opts.seed)
    return CellStats(runs=runs, interval=interval, n_classes=k, class_level=classes is not None)


def pair_stats(
    a: tuple[RunSummary, ...], b: tuple[RunSummary, ...], opts: IntervalOptions
) -> PairStats | None:
    """``a`` minus ``b`` (two cells on one test manifest, trainings sorted by seed), or
    ``None`` with fewer than two test episodes."""
    pairs, by_seed = pair_trainings(a, b)
    acc_a = episode_matrix(tuple(x for x, _ in pairs))
    acc_b = episode_matrix(tuple(y for _, y in pairs))
    if acc_a.shape[1] < 2:
        return None
    classes, _ = _classes(a[0], opts)
    comp = paired_comparison(acc_a, acc_b, classes=classes, n_boot=opts.n_boot, seed=opts.seed)
    episode = paired_difference(acc_a[0], acc_b[0]) if len(pairs) == 1 else None
    return PairStats(
        pairs=len(pairs),
        by_seed=by_seed,
        comparison=comp,
        episode_level=episode,
        class_level=classes is not None,
    )
