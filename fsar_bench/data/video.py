"""Reading frames from frame folders and from video files (decoded with PyAV).

A video is either a folder of image files (``00001.jpg`` ...; sorted naturally) or one file
(mp4, webm, avi, mkv, mov). Frame ``i`` is the ``i``-th decoded frame in presentation order, so
frame counts and indices mean the same thing for both kinds.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fsar_bench.data.splits import natural_key
from fsar_bench.errors import FsarError

FRAME_EXTS = frozenset({".jpg", ".jpeg", ".png"})
VIDEO_EXTS = frozenset({".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v"})


class VideoError(FsarError):
    """A video that cannot be read (missing, empty, corrupt or undecodable)."""


def frame_files(folder: Path) -> list[str]:
    """Image file names in a frame folder, in natural order."""
    names = [
        e.name
        for e in os.scandir(folder)
        if e.is_file() and os.path.splitext(e.name)[1].lower() in FRAME_EXTS
    ]
    return sorted(names, key=natural_key)


def count_frames(path: Path) -> int:
    """Exact number of frames: image files in a folder, or frames decoded from a file."""
    path = Path(path)
    if path.is_dir():
        return len(frame_files(path))
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            return sum(1 for _ in container.decode(stream))
    except (av.error.FFmpegError, IndexError, OSError) as err:
        raise VideoError(f"cannot decode {path}: {err}") from err


def read_frames(path: Path, indices: Sequence[int]) -> np.ndarray:
    """Read the frames at ``indices`` (any order, repeats allowed).

    Returns:
        ``uint8`` array ``[T, H, W, 3]`` (RGB) with ``T = len(indices)``.
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, indices)
    return _read_file(path, indices)


def _read_folder(path: Path, indices: Sequence[int]) -> np.ndarray:
    from PIL import Image

    names = frame_files(path)
    frames = []
    for i in indices:
        if not 0 <= i < len(names):
            raise VideoError(f"{path}: frame {i} requested but the folder has {len(names)} frames")
        try:
            with Image.open(path / names[i]) as img:
                frames.append(np.asarray(img.convert("RGB")))
        except OSError as err:
            raise VideoError(f"cannot read {path / names[i]}: {err}") from err
    return _stack(frames, path)


def _read_file(path: Path, indices: Sequence[int]) -> np.ndarray:
    import av

    wanted = sorted(set(indices))
    if not wanted:
        raise ValueError("no frame indices given")
    got: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for i, frame in enumerate(container.decode(stream)):
                if i in wanted:
                    got[i] = frame.to_ndarray(format="rgb24")
                if i >= wanted[-1]:
                    break
    except (av.error.FFmpegError, IndexError, OSError) as err:
        raise VideoError(f"cannot decode {path}: {err}") from err
    missing = [i for i in wanted if i not in got]
    if missing:
        raise VideoError(f"{path}: frames {missing[:5]} requested beyond the end of the video")
    return _stack([got[i] for i in indices], path)


def _stack(frames: list[np.ndarray], path: Path) -> np.ndarray:
    if len({f.shape for f in frames}) != 1:
        raise VideoError(f"{path}: frames have different sizes")
    return np.stack(frames)
