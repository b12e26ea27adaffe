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
        Video(
            video_id=f"c{c}_v{i}",
            class_key=f"class{c}",
            path=f"class{c}/c{c}_v{i}",
            n_frames=frames + (i if grow else 0),
        )
        for c in range(n_classes)
        for i in range(per_class)
    ]
    split = SplitList(
        path=None,
        sha256="0" * 64,
        classes=tuple(f"class{c}" for c in range(n_classes)),
        videos=tuple((v.video_id, v.class_key) for v in videos),
    )
    return SplitIndex(split=split, videos=videos, missing=[])


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

    from fsar_bench.source import DataSource

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


def misalignment_report(
    dataset: str = "d",
    aem: float = 0.2,
    ref: float | None = 0.01,
    *,
    starts: tuple[int, ...] = (3, 1, 0, 0),
    onset: tuple[int, ...] = (2, 2, 1, 0),
    videos: int = 10,
):
    """An ``aem.json`` report (:class:`MisalignmentReport`) with chosen readings: Eq. (10)
    ``aem``, confident ``aem / 2`` (share 0.8), within class ``aem / 3``, the references
    ``ref`` (progress) and ``ref / 2`` (warp) unless ``None``; start-time and onset counts per
    step, the rest of the ``videos`` never start."""
    from fsar_bench.analysis.measures.reference import AemReferences, ReferenceAem
    from fsar_bench.analysis.measures.results import MisalignmentReport, OnsetReport, WithinClassAem
    from fsar_bench.analysis.measures.start_times import StartTimeSummary
    from fsar_bench.analysis.measures.uncertainty import ConfidentAem, SubsetAem
    from fsar_bench.analysis.probe.config import ProbeSummary

    nan = float("nan")

    def reference(value: float) -> ReferenceAem:
        return ReferenceAem(
            videos=videos,
            dropped=0,
            aem_eq10_as_printed=value,
            mean_pairwise_cosine_distance=2 * value,
            tracking_spearman=nan,
        )

    return MisalignmentReport(
        dataset=dataset,
        videos=videos,
        frames_per_video=len(starts),
        aem_eq10_as_printed=aem,
        mean_pairwise_cosine_distance=2 * aem,
        aem_interval_95=(aem - 0.01, aem + 0.01),
        aem_confident=ConfidentAem(
            tau=0.5,
            videos=8,
            share=0.8,
            aem_eq10_as_printed=aem / 2,
            mean_pairwise_cosine_distance=aem,
            others=SubsetAem(videos=2, aem_eq10_as_printed=nan, mean_pairwise_cosine_distance=nan),
        ),
        aem_within_class=WithinClassAem(
            aem_eq10_as_printed=aem / 3, interval_95=(0, 1), confident=nan
        ),
        published=None,
        per_class=(),
        start_times=StartTimeSummary(
            threshold=0.5,
            n_videos=videos,
            counts=starts,
            never=videos - sum(starts),
            mean=nan,
            median=nan,
        ),
        onset=OnsetReport(estimator="test", counts=onset, never=videos - sum(onset)),
        probe=ProbeSummary(
            mode="feature-tsm",
            description="test probe",
            folder="probe",
            classes=5,
            trained_videos=20,
            scored_videos=videos,
            scored_videos_seen_in_training=0,
            videos_note="test probe, held-out videos",
            accuracy_video=0.9,
            accuracy_frame=0.8,
            epochs=1,
            optimizer_lr_weight_decay=("adamw", 0.01, 0.05),
            train_seconds=1.0,
        ),
        aem_reference=None
        if ref is None
        else AemReferences(
            progress=reference(ref), progress_after_one=reference(ref), warp=reference(ref / 2)
        ),
    )


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


# random-init ResNet-50 (random EfficientNet-Lite0 maps are ~1e-9: all zero in float16);
# the tiny fixtures have 3-4 videos a class, so half of them are scored
FAST_PROBE = [
    "--random-init",
    "--backbone",
    "resnet50",
    "--size",
    "32",
    "--workers",
    "0",
    "--device",
    "cpu",
    "--set",
    "probe.epochs=2",
    "--set",
    "probe.batch=4",
    "--set",
    "probe.width=16",
    "--set",
    "probe.hidden=8",
    "--set",
    "probe.score_fraction=0.5",
]
