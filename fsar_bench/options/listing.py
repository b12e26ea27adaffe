"""Option group of ``fsar-bench ls``: where ``ls runs`` looks for results and checkpoints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fsar_bench.options.spelling import opt


@dataclass(frozen=True, kw_only=True)
class ListOptions:
    """``ls runs``: the results folder, and the cache whose checkpoints show how far an
    unfinished run's training got."""

    runs_dir: Path = opt(Path("runs"), "--runs-dir", help="ls runs: the results folder.")
    cache_dir: Path | None = opt(
        None, "--cache-dir", help="ls runs: cache with the checkpoints (else FSAR_CACHE_DIR)."
    )
