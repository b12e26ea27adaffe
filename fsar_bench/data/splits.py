"""Reading split lists in every format the community uses.

Formats (see ``splits/PROVENANCE.md``):

* CMN ``*.list`` and TRX/TA2N ``*listNN.txt``: ``<class>/<video id>`` (class names may contain
  spaces; SSv2 OTAM lists use per-split indices such as ``train8``);
* HyRSM ``*_few_shot.txt``: ``<split><idx>//<subdir>/<class>/<file>`` or
  ``<split><idx>/<video id>``.

Video ids are matched exactly (no lower-casing: HMDB51 ids contain mixed case and punctuation).
A malformed line fails with the file and line number. A leading UTF-8 byte-order mark is
ignored; a class name holding any other invisible character is refused (it would make a class
of its own that looks like another).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
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
    return tuple(int(t) if t.isdecimal() else t for t in re.split(r"(\d+)", text))


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
    hidden = invisible(class_key)
    if hidden:
        raise FsarError(
            f"{path}:{lineno}: class {class_key!r} holds the invisible character "
            f"U+{ord(hidden):04X} ({unicodedata.name(hidden, 'unnamed')}); remove it from the list"
        )
    return video_id, class_key


def invisible(text: str) -> str:
    """The first invisible character of ``text`` (a format or control character, a line or
    paragraph separator, a space other than U+0020), ``""`` if none."""
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Cc", "Co", "Zl", "Zp") or (cat == "Zs" and ch != " "):
            return ch
    return ""


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
    text = text.removeprefix("\ufeff")  # a byte-order mark some editors write
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
