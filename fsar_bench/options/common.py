"""Option groups that several commands take: data and compute.

* :class:`DataOptions`: where a dataset's videos and caches are, and the missing-video policy;
  :meth:`DataOptions.source` builds the one :class:`~fsar_bench.source.DataSource`.
* :class:`ComputeOptions`: the device and the decoding processes (``--workers`` reaches every
  stage that decodes: extraction, the probe, fine-tuning; one default, :func:`default_workers`).
* :class:`OutputOptions`: how a long command reports its progress (bars on a terminal, plain
  or JSON lines in a job's log; :mod:`fsar_bench.presentation.logs`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import opt
from fsar_bench.presentation.reporter import DEFAULT as OUTPUT

if TYPE_CHECKING:
    from fsar_bench.source import DataSource


def default_workers() -> int:
    """Decoding processes when ``--workers`` is not given: the usable cores less one, at
    least one (the main process computes meanwhile)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


@dataclass(frozen=True, kw_only=True)
class DataOptions:
    """One dataset, where its data and caches are, and the missing-video policy."""

    dataset: str = opt("synthetic", "--dataset", "-d", help="Dataset (fsar-bench ls datasets).")

    data_root: Path | None = opt(
        None, "--data-root", help="The dataset's folder (else FSAR_DATA_ROOT)."
    )
    cache_dir: Path | None = opt(None, "--cache-dir", help="Cache folder (else FSAR_CACHE_DIR).")
    missing: str = opt("error", "--missing", help="Listed videos not found: error | skip.")
    variant: str = opt("", "--variant", help="Published list variant (e.g. ta2n, hyrsm).")

    def source(self) -> DataSource:
        """The one :class:`~fsar_bench.source.DataSource` a command passes on."""
        from fsar_bench.source import DataSource

        return DataSource.resolve(
            self.dataset,
            data_root=self.data_root,
            cache_dir=self.cache_dir,
            variant=self.variant,
            missing=self.missing,
        )


@dataclass(frozen=True, kw_only=True)
class ComputeOptions:
    """Where the work runs: the device, and the processes that decode videos."""

    device: str | None = opt(None, "--device", help="cpu | cuda (default: CUDA when present).")
    workers: int | None = opt(
        None, "--workers", help="Decoding processes (default: cores - 1).", minimum=0
    )

    @property
    def decoders(self) -> int:
        """``--workers``, else :func:`default_workers`."""
        return default_workers() if self.workers is None else self.workers


@dataclass(frozen=True, kw_only=True)
class DatasetArgument(DataOptions):
    """:class:`DataOptions` whose dataset is the command's first argument (``aem ucf101``)."""

    dataset: str = opt(..., help="Dataset name (fsar-bench ls datasets).")


@dataclass(frozen=True, kw_only=True)
class LevelData(DataOptions):
    """:class:`DataOptions` of a sweep: each level names its own dataset (no ``--dataset``)."""

    dataset: str = ""


LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, kw_only=True)
class OutputOptions:
    """How a long command reports: progress bars on a terminal; when stdout or stderr is not a
    terminal (a job scheduler's log), a plain line at each phase change and every
    ``log_every`` seconds, and each result as soon as it is known."""

    quiet: bool = opt(
        OUTPUT.quiet, "--quiet", help="No progress bars or progress lines; results only."
    )
    log_format: str = opt(
        OUTPUT.log_format, "--log-format", help="text | json (one JSON object per line on stdout)."
    )
    log_every: float = opt(
        OUTPUT.log_every,
        "--log-every",
        help="Seconds between progress lines in a log (not a terminal).",
    )

    def __post_init__(self) -> None:
        if self.log_format not in LOG_FORMATS:
            raise FsarError(
                f"--log-format {self.log_format!r}: choose from {', '.join(LOG_FORMATS)}"
            )
        if not self.log_every > 0:
            raise FsarError(f"--log-every {self.log_every}: give a number of seconds above 0")
