"""Reading split lists in every format the community uses.

Formats (see ``splits/PROVENANCE.md``):

* CMN ``*.list`` and TRX/TA2N ``*listNN.txt``: ``<class>/<video id>`` (class names may contain
  spaces; SSv2 OTAM lists use per-split indices such as ``train8``);
* HyRSM ``*_few_shot.txt``: ``<split><idx>//<subdir>/<class>/<file>`` or
  ``<split><idx>/<video id>``.

Video ids are matched exactly (no lower-casing: HMDB51 ids contain mixed case and punctuation).
A malformed line fails with the file and line number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.errors import FsarError


@dataclass(frozen=True, kw_only=True)
class SplitList:
    """A parsed split list.

    Attributes:
        path: the list file.
        sha256: hash of its bytes (part of every cache and manifest key).
        classes: class keys in natural order; a video's label is its class's position here.
        videos: ``(video_id, class_key)`` in file order.
    """

    path: Path
    sha256: str
    classes: tuple[str, ...]
    videos: tuple[tuple[str, str], ...]

    def label(self, class_key: str) -> int:
        return self.classes.index(class_key)


def natural_key(text: str) -> tuple:
    """Sort key that orders ``train2`` before ``train10``."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def parse_line(line: str, path: Path, lineno: int) -> tuple[str, str]:
    """One list line -> ``(video_id, class_key)``; raises :class:`FsarError` when malformed."""
    text = line.strip()
    if "//" in text:  # HyRSM: train0//videos/brush_hair/April_09_....avi
        class_key, _, rest = text.partition("//")
        video_id = Path(rest).stem
    else:
        class_key, sep, video_id = text.rpartition("/")
        if not sep:
            class_key = ""
    if not class_key.strip() or not video_id.strip() or any(c in video_id for c in "\t"):
        raise FsarError(
            f"{path}:{lineno}: malformed split line {text!r}; expected '<class>/<video id>'"
        )
    return video_id, class_key


def read_split(path: Path | str) -> SplitList:
    """Parse a split list file (blank lines are ignored; duplicates are an error)."""
    path = Path(path)
    if not path.is_file():
        raise FsarError(f"split list not found: {path}; check the dataset name or data root")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FsarError(f"{path}: not UTF-8 text ({err}); re-save the list as UTF-8") from err
    videos: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        video_id, class_key = parse_line(line, path, lineno)
        if video_id in seen:
            raise FsarError(
                f"{path}:{lineno}: video id {video_id!r} already listed on line {seen[video_id]}"
            )
        seen[video_id] = lineno
        videos.append((video_id, class_key))
    if not videos:
        raise FsarError(f"{path}: the split list is empty")
    classes = tuple(sorted({c for _, c in videos}, key=natural_key))
    return SplitList(
        path=path, sha256=hashlib.sha256(data).hexdigest(), classes=classes, videos=tuple(videos)
    )
