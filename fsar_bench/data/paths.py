"""Where data, caches and results live.

* Cache (indexes, features, checkpoints, results): ``--cache-dir`` or ``FSAR_CACHE_DIR``, else
  ``~/.cache/fsar-bench``.
* Data: ``--data-root DIR`` is the dataset's own folder. Without it, ``FSAR_DATA_ROOT`` is a
  parent folder holding one folder per dataset, named as the registry name (``ucf101``,
  ``ssv2-full``, ...) or an alias. Synthetic datasets default to ``<cache>/data/<name>``.
"""

from __future__ import annotations

import os
from pathlib import Path

from fsar_bench.data.datasets import DatasetInfo
from fsar_bench.errors import FsarError


def cache_dir(arg: str | Path | None = None) -> Path:
    """The cache folder (created on demand by the writers)."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get("FSAR_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fsar-bench"


def data_root(info: DatasetInfo, arg: str | Path | None = None, cache: Path | None = None) -> Path:
    """Resolve the data folder of a dataset (see the module docstring)."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get("FSAR_DATA_ROOT")
    if env:
        parent = Path(env).expanduser()
        for name in (info.name, *info.aliases):
            if (parent / name).is_dir():
                return (parent / name).resolve()
        if info.is_synthetic:
            return (parent / info.name).resolve()
        raise FsarError(
            f"no folder for {info.name} in FSAR_DATA_ROOT={parent}; create {parent / info.name} "
            f"or pass --data-root DIR"
        )
    if info.is_synthetic:
        return (cache_dir(cache) / "data" / info.name).resolve()
    raise FsarError(
        f"no data root for {info.name}: pass --data-root DIR (the dataset's folder) or set "
        f"FSAR_DATA_ROOT to the folder that holds {info.name}/"
    )
