"""Finding a dataset's listed videos on disk, by video id, whatever the layout.

Recognised layouts (any depth, any mix): frame folders ``class/video/frames``,
``video/frames``, ``<split><k>/video/frames``; video files ``class/video.mp4``,
``video.webm`` ... The folder (or file stem) name is the video id; labels always come from the
split lists, never from folder names.

The index of a data root (per split: found videos with their frame counts, and the missing ones)
is saved as JSON under ``<cache>/index/`` (atomically) and reused; frame counts of unchanged
video files are not decoded again; a torn or garbage index is rebuilt. Symbolic links are
followed, each real folder visited once (a link loop ends there).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.data.datasets import SPLITS, DatasetInfo
from fsar_bench.data.splits import SplitList, read_split
from fsar_bench.data.video import FRAME_EXTS, VIDEO_EXTS, count_frames
from fsar_bench.errors import FsarError
from fsar_bench.files import owned, read_json, write_json

INDEX_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Video:
    """A listed video found on disk."""

    video_id: str
    class_key: str
    path: str  # relative to the data root
    n_frames: int


@dataclass(kw_only=True)
class SplitIndex:
    """One split: its list, the videos found and the listed ids that are missing."""

    split: SplitList
    videos: list[Video]
    missing: list[tuple[str, str]]
    ambiguous: int = 0

    def by_class(self) -> dict[str, list[Video]]:
        out: dict[str, list[Video]] = {c: [] for c in self.split.classes}
        for v in self.videos:
            out[v.class_key].append(v)
        return out


def scan(root: Path) -> dict[str, list[tuple[str, int | None]]]:
    """Walk ``root``: video id -> candidate ``(relative path, frame count or None)``."""
    found: dict[str, list[tuple[str, int | None]]] = {}
    seen: set[tuple[int, int]] = set()  # real folders visited: a symlink loop ends here
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        try:
            st = os.stat(dirpath)
        except OSError:
            dirnames[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel = os.path.relpath(dirpath, root)
        n_images = sum(os.path.splitext(f)[1].lower() in FRAME_EXTS for f in filenames)
        if n_images and rel != ".":
            found.setdefault(os.path.basename(dirpath), []).append((rel, n_images))
        for f in sorted(filenames):
            stem, ext = os.path.splitext(f)
            if ext.lower() in VIDEO_EXTS:
                path = f if rel == "." else os.path.join(rel, f)
                found.setdefault(stem, []).append((path, None))
    return found


def _norm(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _choose(cands: list[tuple[str, int | None]], class_key: str) -> tuple[str, int | None]:
    """Prefer the candidate whose parent folder is the class; else the first in path order."""
    for path, n in cands:
        if _norm(Path(path).parent.name) == _norm(class_key):
            return path, n
    return sorted(cands)[0]


def index_path(cache: Path, info: DatasetInfo, root: Path, variant: str = "") -> Path:
    key = hashlib.sha256(f"{root}|{variant}".encode()).hexdigest()[:12]
    return cache / "index" / f"{info.name}{'-' + variant if variant else ''}-{key}.json"


def build_index(
    info: DatasetInfo,
    root: Path,
    cache: Path,
    variant: str = "",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, SplitIndex]:
    """Scan ``root``, match every listed video, count frames, save and return the index."""
    if not root.is_dir():
        raise FsarError(f"data root {root} does not exist; pass --data-root DIR for {info.name}")
    lists = {s: read_split(info.split_path(s, root, variant)) for s in SPLITS}
    _check_classes(info, lists)
    found = scan(root)
    old = _load_counts(index_path(cache, info, root, variant))
    todo: dict[str, None] = {}
    chosen: dict[str, tuple[str, str, int | None]] = {}
    ambiguous = {s: 0 for s in SPLITS}
    for s, lst in lists.items():
        for vid, cls in lst.videos:
            if vid in found:
                ambiguous[s] += len(found[vid]) > 1
                path, n = _choose(found[vid], cls)
                n = n if n is not None else old.get((path, _size(root / path)))
                chosen[vid] = (cls, path, n)
                if n is None:
                    todo[path] = None
    counts = _count_all(root, list(todo), progress)
    out = {}
    for s, lst in lists.items():
        videos, missing = [], []
        for vid, cls in lst.videos:
            if vid not in chosen:
                missing.append((vid, cls))
                continue
            _, path, n = chosen[vid]
            videos.append(
                Video(
                    video_id=vid,
                    class_key=cls,
                    path=path,
                    n_frames=n if n is not None else counts[path],
                )
            )
        out[s] = SplitIndex(split=lst, videos=videos, missing=missing, ambiguous=ambiguous[s])
    save_index(index_path(cache, info, root, variant), info, root, variant, out)
    return out


def _check_classes(info: DatasetInfo, lists: dict[str, SplitList]) -> None:
    if info.is_synthetic:
        return
    for s, lst in lists.items():
        if len(lst.classes) != info.classes[s]:
            raise FsarError(
                f"{lst.path}: {len(lst.classes)} classes, but the {info.name} {s} split has "
                f"{info.classes[s]}; the list file is not the protocol's"
            )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _count_all(
    root: Path, paths: list[str], progress: Callable[[int, int], None] | None
) -> dict[str, int]:
    """Decode-count frames of video files (threads: PyAV releases the GIL while decoding)."""
    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for i, (path, n) in enumerate(zip(paths, pool.map(_safe_count, [root / p for p in paths]))):
            counts[path] = n
            if progress:
                progress(i + 1, len(paths))
    return counts


def _safe_count(path: Path) -> int:
    try:
        return count_frames(path)
    except FsarError:
        return 0  # undecodable: kept with 0 frames and reported as unreadable by prepare


def save_index(
    path: Path, info: DatasetInfo, root: Path, variant: str, splits: dict[str, SplitIndex]
) -> None:
    data = {
        "format": INDEX_FORMAT,
        "dataset": info.name,
        "root": str(root),
        "variant": variant,
        "splits": {
            s: {
                "list": str(ix.split.path),
                "sha256": ix.split.sha256,
                "videos": [[v.video_id, v.class_key, v.path, v.n_frames] for v in ix.videos],
                "missing": [list(m) for m in ix.missing],
                "ambiguous": ix.ambiguous,
            }
            for s, ix in splits.items()
        },
    }
    write_json(path, data, indent=0)


def _load_counts(path: Path) -> dict[tuple[str, int], int]:
    """Frame counts from a previous index, keyed by (path, size); only for video files."""
    data = read_json(path)
    try:
        root = Path(data["root"])
        return {
            (p, _size(root / p)): n
            for s in data["splits"].values()
            for _, _, p, n in s["videos"]
            if n and not (root / p).is_dir()
        }
    except (TypeError, KeyError, ValueError, AttributeError):  # absent, torn or garbage
        return {}


def read_index(
    info: DatasetInfo, root: Path, cache: Path, variant: str = ""
) -> dict[str, SplitIndex]:
    """The saved index of ``root`` (built on first use, rebuilt when a split list changed)."""
    path = index_path(cache, info, root, variant)
    lists = {s: read_split(info.split_path(s, root, variant)) for s in SPLITS}
    with owned(path.parent, what=f"the index {path}"):  # one writer of the cache's indexes
        return _read_or_build(path, lists, info, root=root, cache=cache, variant=variant)


def _read_or_build(
    path: Path, lists: dict, info: DatasetInfo, *, root: Path, cache: Path, variant: str
) -> dict[str, SplitIndex]:
    """:func:`read_index` under the index folder's lock."""
    data = read_json(path)
    try:
        if data.get("format") != INDEX_FORMAT or any(
            data["splits"][s]["sha256"] != lists[s].sha256 for s in SPLITS
        ):
            return build_index(info, root, cache, variant)
        return {
            s: SplitIndex(
                split=lists[s],
                videos=[
                    Video(video_id=v, class_key=c, path=rel, n_frames=n)
                    for v, c, rel, n in data["splits"][s]["videos"]
                ],
                missing=[tuple(m) for m in data["splits"][s]["missing"]],
                ambiguous=data["splits"][s]["ambiguous"],
            )
            for s in SPLITS
        }
    except (AttributeError, TypeError, KeyError, ValueError):  # absent, torn or garbage: rebuilt
        return build_index(info, root, cache, variant)


def check_missing_policy(
    info: DatasetInfo,
    root: Path,
    index: dict[str, SplitIndex],
    splits: tuple[str, ...],
    missing: str,
) -> None:
    """``"error"`` fails when a split in ``splits`` has listed videos that were not found;
    ``"skip"`` proceeds with the videos found (the index records the rest)."""
    if missing not in ("error", "skip"):
        raise FsarError(f"--missing must be 'error' or 'skip', not {missing!r}")
    for s in splits:
        if index[s].missing and missing == "error":
            raise FsarError(
                f"{info.name} {s}: {len(index[s].missing)} of {len(index[s].split.videos)} listed "
                f"videos are missing under {root} (e.g. {index[s].missing[0][0]!r}); run "
                f"'fsar-bench prepare' to see them, or pass --missing skip to use the rest"
            )


def load_index(
    info: DatasetInfo,
    root: Path,
    cache: Path,
    variant: str = "",
    missing: str = "error",
    splits: tuple[str, ...] = SPLITS,
) -> dict[str, SplitIndex]:
    """:func:`read_index` with the missing-video policy applied to ``splits``.

    Commands and the engine use :class:`fsar_bench.source.DataSource`, which memoises the
    index; this is the same for library users holding the loose values.
    """
    if missing not in ("error", "skip"):
        raise FsarError(f"--missing must be 'error' or 'skip', not {missing!r}")
    out = read_index(info, root, cache, variant)
    check_missing_policy(info, root, out, splits, missing)
    return out
