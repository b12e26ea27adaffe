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


# --- the fault-injection suite (tests/faults): fixtures here, as the rootdir conftest, so no
# second module called ``conftest`` shadows this one when the whole suite is collected
FAULTS = Path(__file__).resolve().parent / "faults"


def _faultkit():
    import sys

    if str(FAULTS) not in sys.path:
        sys.path.insert(0, str(FAULTS))
    import faultkit

    return faultkit


@pytest.fixture(scope="session")
def zygote():
    """The fork server of the fault suite (tests/faults/zygote.py): torch imported once."""
    server = _faultkit().Zygote()
    yield server
    server.close()


@pytest.fixture(scope="session")
def reference(zygote, tmp_path_factory):
    """An uninterrupted run, report and analysis of the fault suite's tiny synthetic dataset."""
    kit = _faultkit()
    bench = kit.Bench(tmp_path_factory.mktemp("reference"), zygote)
    for step in ("tiny_data", kit.RUN, kit.REPORT, kit.AEM):
        assert bench.run(step) == 0, bench.log()[-3000:]
    return bench


@pytest.fixture(scope="session")
def profiled(reference, zygote, tmp_path_factory):
    """The reference's runs and probe, then an uninterrupted profile and sweep files."""
    kit = _faultkit()
    bench = kit.Bench(tmp_path_factory.mktemp("profiled"), zygote)
    kit.copy_tree(reference.root, bench.root, kit.ANALYSED)
    for step in (kit.PROFILE, "tiny_sweep"):
        assert bench.run(step) == 0, bench.log()[-3000:]
    return bench


@pytest.fixture
def bench(zygote, tmp_path):
    """An empty working folder of the fault suite, run through the fork server."""
    return _faultkit().Bench(tmp_path / "bench", zygote)
