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
