"""The stand-in dataset of ``bench_scale.py``: a protocol's real split lists cut to a fraction,
and frame folders of small real-looking JPEG frames.

Lists. Every class of the protocol is kept (the class counts are the protocol's); each class keeps
``max(min_per_class, round(n_c * fraction))`` of its listed videos, chosen by a seeded generator
and kept in list order. The lines are the real lines (real class keys and video ids). The three
lists go to ``<workdir>/lists/{train,val,test}list.txt``, a ``--dataset DIR`` folder.

Frames. A video is a folder ``<data>/<class>/<video id>/00001.jpg ...`` (the TRX/TA2N layout) of
``n`` JPEG frames, ``n`` drawn per video from ``frames_range`` (SSv2 at its 12 frames/s: 2-6 s
clips). The frames are a slow pan across one of the photographs bundled with scikit-image
(``fsar_bench.data.synthetic_render.PHOTOS``): ``width x height`` crops, JPEG quality 85, encoded
once into a pool of ``POOL`` frames per photograph; each video copies a run of consecutive pool
frames into its own files (distinct files, so the decoder reads them as it would real ones).
"""

from __future__ import annotations

import json
import shutil
import time
import zlib
from pathlib import Path

import numpy as np

POOL = 96  # frames of the pan across one photograph
LIST_FILES = {"train": "trainlist.txt", "val": "vallist.txt", "test": "testlist.txt"}


def cut_lists(
    lists: dict[str, Path], fraction: float, min_per_class: int, seed: int
) -> dict[str, list[str]]:
    """Split -> the kept lines of its real list (see the module docstring)."""
    from fsar_bench.data.splits import read_split

    rng = np.random.default_rng(seed)
    out = {}
    for split, path in lists.items():
        parsed = read_split(path)
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        by_class: dict[str, list[int]] = {}
        for i, (_, cls) in enumerate(parsed.videos):
            by_class.setdefault(cls, []).append(i)
        keep: list[int] = []
        for rows in by_class.values():
            n = min(len(rows), max(min_per_class, round(len(rows) * fraction)))
            keep += sorted(rng.choice(rows, n, replace=False).tolist())
        out[split] = [lines[i] for i in sorted(keep)]
    return out


def frame_pool(width: int, height: int) -> list[list[bytes]]:
    """Per photograph, ``POOL`` JPEG frames panning across it (``width x height``)."""
    import io

    from PIL import Image

    from fsar_bench.data.synthetic_render import PHOTOS, load_photo

    pools = []
    for name in PHOTOS:
        photo = load_photo(name)
        h, w = photo.shape[:2]
        side_h = min(h, w * height // width)
        side_w = side_h * width // height
        frames = []
        for k in range(POOL):
            x = int((w - side_w) * k / (POOL - 1))
            y = int((h - side_h) * (0.5 + 0.3 * np.sin(k / 15)))
            region = Image.fromarray(photo[y : y + side_h, x : x + side_w])
            buf = io.BytesIO()
            region.resize((width, height), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=85)
            frames.append(buf.getvalue())
        pools.append(frames)
    return pools


def write_dataset(
    workdir: Path,
    lines: dict[str, list[str]],
    *,
    frames_range: tuple[int, int],
    width: int,
    height: int,
    seed: int,
) -> dict:
    """Write the lists and the frame folders (reused when ``COMPLETE`` matches); returns the
    recorded description: videos, frames and bytes written, seconds."""
    from fsar_bench.data.splits import parse_line

    data, folder = workdir / "data", workdir / "lists"
    recipe = {"lines": lines, "frames": list(frames_range), "size": [width, height], "seed": seed}
    digest = f"{zlib.crc32(json.dumps(recipe, sort_keys=True).encode()):08x}"
    done = workdir / "COMPLETE"
    if done.is_file() and json.loads(done.read_text()).get("digest") == digest:
        return json.loads(done.read_text())
    start = time.perf_counter()
    for old in (data, folder, done):
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    folder.mkdir(parents=True)
    for split, rows in lines.items():
        (folder / LIST_FILES[split]).write_text("".join(r + "\n" for r in rows))
    pools = frame_pool(width, height)
    n_frames = n_bytes = 0
    for split, rows in lines.items():
        for lineno, row in enumerate(rows, 1):
            video_id, cls = parse_line(row, folder / LIST_FILES[split], lineno)
            rng = np.random.default_rng([seed, zlib.crc32(video_id.encode())])
            n = int(rng.integers(frames_range[0], frames_range[1] + 1))
            pool = pools[int(rng.integers(len(pools)))]
            first = int(rng.integers(0, max(1, POOL - n)))
            target = data / cls / video_id
            target.mkdir(parents=True)
            for k in range(n):
                jpeg = pool[min(first + k, POOL - 1)]
                (target / f"{k + 1:05d}.jpg").write_bytes(jpeg)
                n_bytes += len(jpeg)
            n_frames += n
    info = {
        "digest": digest,
        "videos": {s: len(r) for s, r in lines.items()},
        "frames": n_frames,
        "bytes": n_bytes,
        "seconds": round(time.perf_counter() - start, 1),
    }
    done.write_text(json.dumps(info))
    return info
