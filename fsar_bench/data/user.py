"""Your own dataset: a folder of split lists (``--dataset DIR``), or an entry point.

``--dataset DIR`` takes any folder holding the three lists ``trainlist.txt``, ``vallist.txt``
and ``testlist.txt``, each in a line format the suite already reads (:mod:`fsar_bench.data.splits`:
``<class>/<video id>``, or HyRSM's ``<class>//<path>/<file>``). No code is needed. The videos
are found under ``--data-root`` (default: DIR itself) in any layout :mod:`fsar_bench.data.index`
recognises; labels come from the lists only.

* Name: ``<folder name>-<8 hex digits>``, the digits hashing the three lists' SHA-256. The name
  keys the index, the feature stores, the manifests and the results folder (``runs/<name>/``),
  so editing a list makes another dataset instead of reusing stale caches, and two folders of
  the same name never mix in a report.
* The lists must be class-disjoint (few-shot classes are novel) and may not share a video.
* Classes per split: whatever the lists hold (no protocol count is enforced).

A registry name is looked up first; a folder whose name is also a dataset name is reached with
a path (``./ucf101``). Installed packages add datasets through the entry-point group
``fsar_bench.datasets`` (see :mod:`fsar_bench.registry`): the value is a
:class:`~fsar_bench.data.datasets.DatasetInfo` whose ``split_files`` are absolute paths, or a
zero-argument function returning one, e.g. ``lambda: folder_dataset(HERE / "splits",
name="my-data")``.
"""

from __future__ import annotations

import hashlib
import re
from itertools import combinations
from pathlib import Path

from fsar_bench.data.datasets import SPLITS, DatasetInfo, resolve_dataset
from fsar_bench.data.splits import SplitList, read_split
from fsar_bench.errors import FsarError

LIST_FILES = {"train": "trainlist.txt", "val": "vallist.txt", "test": "testlist.txt"}
FORMATS = "'<class>/<video id>' or '<class>//<path>/<file>' per line"


def _check_disjoint(lists: dict[str, SplitList]) -> None:
    """No class and no video in two splits (a few-shot protocol tests on novel classes)."""
    for a, b in combinations(SPLITS, 2):
        for what, pick in (
            ("class", lambda s: set(s.classes)),
            ("video", lambda s: {v for v, _ in s.videos}),
        ):
            both = sorted(pick(lists[a]) & pick(lists[b]))
            if both:
                raise FsarError(
                    f"{what} {both[0]!r} is in both {lists[a].path} and {lists[b].path} "
                    f"({len(both)} shared); few-shot splits must be disjoint"
                )


def folder_dataset(folder: str | Path, name: str | None = None) -> DatasetInfo:
    """A :class:`DatasetInfo` from a folder holding ``trainlist.txt``, ``vallist.txt`` and
    ``testlist.txt`` (see the module docstring); ``name`` replaces the derived name."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise FsarError(f"--dataset {folder}: no such folder")
    absent = [f for f in LIST_FILES.values() if not (folder / f).is_file()]
    if absent:
        raise FsarError(
            f"--dataset {folder}: {', '.join(absent)} missing; a dataset folder holds "
            f"{', '.join(LIST_FILES.values())} ({FORMATS})"
        )
    lists = {s: read_split(folder / f) for s, f in LIST_FILES.items()}
    _check_disjoint(lists)
    digest = hashlib.sha256("".join(lists[s].sha256 for s in SPLITS).encode()).hexdigest()
    slug = re.sub(r"[^a-z0-9_.-]+", "-", folder.name.lower()).strip("-.") or "dataset"
    return DatasetInfo(
        name=name or f"{slug}-{digest[:8]}",
        title=f"split lists in {folder}",
        protocol=f"user lists (sha256 {digest[:12]})",
        split_files={s: str(folder / f) for s, f in LIST_FILES.items()},
        classes={s: len(lists[s].classes) for s in SPLITS},
    )


def find_dataset(text: str) -> tuple[DatasetInfo, Path | None]:
    """A registered dataset (``None``), or a split-list folder's dataset and the folder."""
    try:
        return resolve_dataset(text), None
    except FsarError as err:
        path = Path(text).expanduser()
        if path.is_dir():
            return folder_dataset(path), path.resolve()
        if "/" in text or "\\" in text:
            raise FsarError(f"--dataset {text}: no such folder") from err
        raise FsarError(
            f"{err} Or pass a folder holding {', '.join(LIST_FILES.values())}."
        ) from err
