"""The misalignment analyses as library calls: measure a dataset, write the files.

:func:`measure` trains (or loads) the dataset's probe and computes every measure
(:func:`fsar_bench.analysis.measures.misalignment.analyse`); the writers put them under
``OUT/<dataset>/``: ``aem.json``, ``aem_per_class.csv``, ``start_times.csv`` / ``.png``,
``tsne_evolution.png`` and, from a finished run, ``tsne_alignment_before/after.png``. Every file
is written atomically (:mod:`fsar_bench.files`), under :func:`output_lock`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fsar_bench.analysis.measures.misalignment import (
    Misalignment,
    analyse,
    true_starts,
    write_per_class_csv,
    write_start_times_csv,
)
from fsar_bench.analysis.measures.reference import ground_truth_records
from fsar_bench.analysis.probe.config import ProbeConfig
from fsar_bench.analysis.probe.trained import Probe, ensure_probe
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.files import dumps, owned, write_text
from fsar_bench.progress import Progress
from fsar_bench.source import DataSource


@dataclass(frozen=True, kw_only=True)
class MeasureRequest:
    """How to measure a dataset's misalignment.

    Attributes:
        probe: the probe's settings. features: the cached features it reads (``feature-tsm``).
        device: where the probe trains and scores. workers: decoding processes.
        seed: the t-SNE seed (a synthetic dataset is generated from its own seed).
    """

    probe: ProbeConfig = field(default_factory=ProbeConfig)
    features: ExtractConfig = field(default_factory=ExtractConfig)
    device: str = "cpu"
    workers: int | None = None
    seed: int = 0


def measure(
    source: DataSource, req: MeasureRequest, progress: Progress | None = None
) -> tuple[Probe, Misalignment]:
    """Prepare the data if needed, train or load the probe, and compute every measure."""
    source.ensure_prepared(progress=progress)
    probe = ensure_probe(
        source,
        req.probe,
        req.features,
        device=torch.device(req.device),
        workers=req.workers,
        progress=progress,
    )
    ids = [v.video_id for v in probe.scored]
    truth = records = None
    if source.dataset.is_synthetic:
        truth, records = true_starts(source.root, ids), ground_truth_records(source.root, ids)
    return probe, analyse(probe, source.name, truth, records)


def output_lock(folder: Path) -> contextlib.AbstractContextManager[None]:
    """The lock of one analysis output folder (``OUT/<dataset>``; a lock file beside it): one
    command writes it at a time, a second identical one waits."""
    return owned(folder, what=f"analysis output {folder}")


def write_aem_files(folder: Path, probe: Probe, result: Misalignment) -> list[Path]:
    """``aem.json`` (every number) and ``aem_per_class.csv``."""
    path = folder / "aem.json"
    write_text(path, dumps(result.report.to_json(), indent=1) + "\n")
    return [path, write_per_class_csv(folder / "aem_per_class.csv", result)]


def write_start_files(
    folder: Path, dataset: str, probe: Probe, result: Misalignment, pdf: bool
) -> list[Path]:
    """``start_times.csv`` and the start-time histogram (TA2N Fig. 2)."""
    from fsar_bench.analysis.measures.figures import plot_start_times

    csv_file = write_start_times_csv(folder / "start_times.csv", probe, result)
    title = f"Start time: {dataset} ({probe.config.mode})"
    png = plot_start_times(
        {dataset: result.report.start_times}, folder / "start_times.png", title=title, pdf=pdf
    )
    return [csv_file, *png]


def write_evolution_tsne(
    folder: Path, dataset: str, result: Misalignment, seed: int, pdf: bool
) -> list[Path]:
    """t-SNE of the evolution vectors (TA2N Fig. 3); raises ``ValueError`` on too few videos."""
    from fsar_bench.analysis.measures.figures import plot_evolution_tsne

    title = f"{dataset}: evolution vectors ({len(result.p)} videos)"
    return plot_evolution_tsne(
        result.p, result.starts, folder / "tsne_evolution.png", title, seed=seed, pdf=pdf
    )
