"""Shared test helpers: the ``../shared`` fixtures are optional and their tests skip cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures"
SSV2_SAMPLE = FIXTURES / "ssv2_sample"
VIDEOS = FIXTURES / "videos"


def need(path: Path) -> Path:
    """Skip the calling test when a fixture from ``../shared`` is absent."""
    if not path.exists():
        pytest.skip(f"fixture {path} not present (it lives in ../shared beside the checkout)")
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def write_frames(folder: Path, n: int, size: int = 16, seed: int = 0) -> None:
    """Write ``n`` small random JPEG frames ``00001.jpg`` ... into ``folder``."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"{i + 1:05d}.jpg")


def toy_index(n_classes: int = 8, per_class: int = 12, frames: int = 20, grow: bool = True):
    """A split of ``n_classes`` x ``per_class`` videos (``frames + i`` frames if ``grow``)."""
    from fsar_bench.data.index import SplitIndex, Video
    from fsar_bench.data.splits import SplitList

    videos = [
        Video(f"c{c}_v{i}", f"class{c}", f"class{c}/c{c}_v{i}", frames + (i if grow else 0))
        for c in range(n_classes)
        for i in range(per_class)
    ]
    split = SplitList(
        path=None,
        sha256="0" * 64,
        classes=tuple(f"class{c}" for c in range(n_classes)),
        videos=tuple((v.video_id, v.class_key) for v in videos),
    )
    return SplitIndex(split, videos, [])


def make_dataset(root: Path, per_split: int = 4, frames: int = 6) -> Path:
    """Frame folders ``frames/<split><i>`` (``frames + i`` random JPEGs) and TRX-style lists."""
    (root / "splits").mkdir(parents=True)
    for split in ("train", "val", "test"):
        for i in range(per_split):
            write_frames(root / "frames" / f"{split}{i}", frames + i, size=32, seed=i)
        lines = "".join(f"c{i % 2}/{split}{i}\n" for i in range(per_split))
        (root / "splits" / f"{split}list.txt").write_text(lines)
    return root


def extract_features(
    info, root, cache, config, splits=("train", "val", "test"), *, missing="error", variant="", **kw
):
    """Feature stores of ``info`` at ``root`` through its :class:`DataSource` (as commands do)."""
    from pathlib import Path

    from fsar_bench.data.source import DataSource

    source = DataSource(
        dataset=info, root=Path(root), cache=Path(cache), variant=variant, missing=missing
    )
    return source.features(config, splits, **kw)


#: ``fsar_bench.run`` options of a tiny run on :func:`tiny_synthetic` data (seconds per cell)
TINY_RUN = {
    "dataset": "synthetic-mid",
    "way": 3,
    "episodes": 24,
    "size": 64,
    "sets": ["train.episodes=12", "train.batch=3", "train.val_every=3", "train.val_episodes=6"],
}


def tiny_synthetic(root: Path) -> Path:
    """A tiny synthetic dataset (4 classes per split, 5 videos each, 12 frames of 64 px)."""
    from fsar_bench.data.synthetic import generate, preset

    spec = preset(
        "mid",
        train_classes=4,
        val_classes=4,
        test_classes=4,
        videos_per_class=5,
        frames=12,
        size=64,
    )
    generate(root, spec)
    return root
