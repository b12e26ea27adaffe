"""The synthetic dataset: determinism, splits, twins, ground truth, presets, resume, sources."""

from __future__ import annotations

import json
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fsar_bench.data import synthetic_render as render
from fsar_bench.data.splits import read_split
from fsar_bench.data.synthetic import (
    LEVEL_CONFIGS,
    SPLITS,
    design_classes,
    generate,
    load_classes,
    load_ground_truth,
    preset,
    sample_video,
)
from fsar_bench.data.video import count_frames, read_frames
from fsar_bench.errors import FsarError

TINY = {"train_classes": 4, "val_classes": 2, "test_classes": 2, "videos_per_class": 3}
TINY |= {"frames": 12, "size": 48}


def tiny(name: str = "mid", **overrides: object):
    return preset(name, **{**TINY, **overrides})


def tree(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file under ``root``."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def mid_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(tmp_path_factory.mktemp("mid"), tiny())


def test_byte_identical_across_generations(tmp_path: Path, mid_root: Path) -> None:
    again = tree(generate(tmp_path / "again", tiny()))
    assert again == tree(mid_root)
    assert sum(name.endswith(".jpg") for name in again) == 8 * 3 * 12


def test_seeds_differ(tmp_path: Path, mid_root: Path) -> None:
    other = generate(tmp_path / "seed1", tiny(seed=1))
    a, b = load_ground_truth(mid_root), load_ground_truth(other)
    assert [r["primitives"] for r in a] != [r["primitives"] for r in b]
    assert [r["background"] for r in a] != [r["background"] for r in b]


def test_splits_are_class_disjoint_trx_lists(mid_root: Path) -> None:
    classes = load_classes(mid_root)
    seen: dict[str, set[str]] = {}
    for split, n in zip(SPLITS, (4, 2, 2), strict=True):
        lst = read_split(mid_root / "splits" / f"{split}list.txt")
        assert len(lst.classes) == n and len(lst.videos) == 3 * n
        for video_id, class_name in lst.videos:
            assert re.fullmatch(r"c\d{3}_[a-z]+(-[a-z]+){1,2}", class_name)
            assert video_id.startswith(class_name + "_v") and classes[class_name]["split"] == split
            assert count_frames(mid_root / "frames" / video_id) == 12
        seen[split] = set(lst.classes)
    assert not (
        seen["train"] & seen["val"] or seen["train"] & seen["test"] or seen["val"] & seen["test"]
    )
    frames = read_frames(mid_root / "frames" / lst.videos[0][0], [0, 11])
    assert frames.shape == (2, 48, 48, 3) and frames.dtype == np.uint8


def test_twins_share_split_and_reverse_order(mid_root: Path) -> None:
    classes = load_classes(mid_root)
    for name, info in classes.items():
        assert len(info["twins"]) == 1
        twin = classes[info["twins"][0]]
        assert twin["split"] == info["split"] and twin["twins"] == [name]
        assert twin["primitives"] == info["primitives"][::-1] != info["primitives"]


def test_twin_states_have_the_same_multiset(tmp_path: Path) -> None:
    """No warp, no offset, whole-video actions: a twin's states are the class's, reversed."""
    root = generate(tmp_path / "none", tiny("none"))
    classes = load_classes(root)
    first = {r["class_name"]: np.array(r["states"], dtype=float) for r in load_ground_truth(root)}
    for name, info in classes.items():
        ours, theirs = first[name], first[info["twins"][0]]
        assert not np.allclose(ours, theirs, atol=1e-3)  # order differs ...
        np.testing.assert_allclose(ours, theirs[::-1], atol=1e-3)  # ... the states do not
        np.testing.assert_allclose(np.sort(ours, axis=0), np.sort(theirs, axis=0), atol=1e-3)


def mean_frame(primitives: tuple[str, ...], background: Image.Image, actor: Image.Image):
    progress = (np.arange(12) + 0.5) / 12
    states = render.actor_states(primitives, progress, 64)
    frames = [np.asarray(render.render_frame(background, actor, s), float) for s in states]
    return np.mean(frames, axis=0)  # [H, W, 3]


def test_twin_mean_frames_are_equal() -> None:
    """With the background and actor fixed, an order-blind mean cannot separate twins."""
    background = render.crop("coffee", (0, 0, 400), 64)
    actor = render.make_actor("astronaut", (100, 50, 200), 64)
    base = mean_frame(("right", "grow"), background, actor)
    twin = mean_frame(("grow", "right"), background, actor)
    other = mean_frame(("right", "up"), background, actor)
    assert np.abs(base - twin).max() < 1.0
    assert np.abs(base - other).max() > 20.0


def test_progress_and_states_follow_the_action(mid_root: Path) -> None:
    for r in load_ground_truth(mid_root):
        start, stop = r["start_frame"], r["start_frame"] + r["duration"]
        inside = r["progress"][start:stop]
        outside = r["progress"][:start] + r["progress"][stop:]
        assert all(p is None for p in outside) and None not in inside
        assert all(0 <= p <= 1 for p in inside) and inside == sorted(inside)
        assert [s is None for s in r["states"]] == [p is None for p in r["progress"]]
        frames = [
            (mid_root / "frames" / r["video_id"] / f"{t:06d}.jpg").read_bytes()
            for t in range(1, 13)
        ]
        bg = r["background"]
        background = render.soften(
            render.crop(bg["photo"], bg["box"], 48), bg["blur"], bg["contrast"]
        )
        idle = render.encode_jpeg(background, 85)
        assert [f == idle for f in frames] == [p is None for p in r["progress"]]


def test_none_preset_has_no_misalignment(tmp_path: Path) -> None:
    for r in load_ground_truth(generate(tmp_path / "none", tiny("none"))):
        assert r["start_frame"] == 0 and r["duration"] == 12 and r["offset"] == [0.0, 0.0]
        np.testing.assert_allclose(r["progress"], (np.arange(12) + 0.5) / 12, atol=1e-6)


def test_presets_are_ordered_low_to_high() -> None:
    configs = [LEVEL_CONFIGS[name] for name in ("none", "low", "mid", "high")]
    shortest = [c.duration[0] for c in configs]
    spread = [c.duration[1] - c.duration[0] for c in configs]
    assert shortest == sorted(shortest, reverse=True) and len(set(shortest)) == 4
    assert spread == sorted(spread) and spread[0] == 0
    for knob in ("warp_sigma", "offset"):
        values = [getattr(c, knob) for c in configs]
        assert values == sorted(values) and len(set(values)) == 4 and values[0] == 0
    assert preset("mid") == LEVEL_CONFIGS["mid"] and LEVEL_CONFIGS["mid"].preset == "mid"


@pytest.mark.parametrize(
    ("name", "overrides", "expect"),
    [
        ("midd", {}, "did you mean mid"),
        ("mid", {"frame": 8}, "unknown synthetic config field(s) frame"),
        ("mid", {"train_classes": 5}, "even"),
        ("mid", {"duration": (0.9, 0.5)}, "duration"),
    ],
)
def test_bad_presets_fail_in_one_line(name: str, overrides: dict, expect: str) -> None:
    with pytest.raises(FsarError, match=re.escape(expect)) as info:
        preset(name, **overrides)
    assert "\n" not in str(info.value)


def test_resume_rewrites_only_missing_videos(tmp_path: Path, mid_root: Path) -> None:
    root = tmp_path / "resume"
    shutil.copytree(mid_root, root)
    videos = sorted(p for p in (root / "frames").iterdir())
    kept = videos[-1] / "000005.jpg"
    before = kept.stat().st_mtime_ns
    shutil.rmtree(videos[0])
    (root / "COMPLETE").unlink()
    (root / "frames" / f".{videos[1].name}.partial").mkdir()  # debris of an interrupted run
    calls: list[tuple[int, int]] = []
    generate(root, tiny(), progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (24, 24) and len(calls) == 24
    assert tree(root) == tree(mid_root) and kept.stat().st_mtime_ns == before
    calls.clear()
    generate(root, tiny(), progress=lambda done, total: calls.append((done, total)))
    assert calls == []  # complete: returns at once


def test_foreign_config_is_refused_unless_overwrite(tmp_path: Path, mid_root: Path) -> None:
    root = tmp_path / "foreign"
    shutil.copytree(mid_root, root)
    with pytest.raises(FsarError, match="another config") as info:
        generate(root, tiny(seed=3))
    assert str(root) in str(info.value) and "\n" not in str(info.value)
    generate(root, tiny(seed=3), overwrite=True)
    assert tree(root) == tree(generate(tmp_path / "fresh", tiny(seed=3)))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FsarError, match="not empty"):
        generate(tmp_path / "other", tiny())
    with pytest.raises(FsarError, match="no complete synthetic dataset"):
        load_ground_truth(tmp_path / "other")


def test_photos_are_bundled_real_photographs(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", offline)
    render.load_photo.cache_clear()
    flat = np.full((64, 64, 3), 128, np.uint8)
    for name in render.PHOTOS:
        photo = render.load_photo(name)
        assert photo.dtype == np.uint8 and photo.ndim == 3 and min(photo.shape[:2]) >= 256
        assert photo.std() > 20 > flat.std()
        assert len(np.unique(photo)) > 100  # a photograph, not a drawing or a mask


def test_backgrounds_and_actors_are_textured(mid_root: Path) -> None:
    for r in load_ground_truth(mid_root):
        background = render.crop(r["background"]["photo"], r["background"]["box"], 48)
        actor = render.make_actor(r["actor"]["photo"], r["actor"]["box"], 48)  # [P, P, 4]
        assert np.asarray(background, float).std() > 10
        assert np.asarray(actor, float)[..., :3].std() > 5
        assert r["background"]["photo"] != r["actor"]["photo"]
    config = json.loads((mid_root / "config.json").read_text())
    assert config["config"]["preset"] == "mid" and config["generator"].startswith("fsar-bench")


def test_one_video_regenerates_alone(mid_root: Path) -> None:
    config = tiny()
    classes = design_classes(config)
    records = load_ground_truth(mid_root)
    for i in (0, 13, 23):
        c, k = divmod(i, config.videos_per_class)
        assert sample_video(config, classes[c], i, k) == records[i]
        folder = mid_root / "frames" / records[i]["video_id"]
        expected = [(folder / f"{t:06d}.jpg").read_bytes() for t in range(1, 13)]
        assert render.render_record(records[i], 48, config.jpeg_quality) == expected


def test_warp_law_favours_no_order() -> None:
    """Warp pieces are exchangeable: on average the warp is the identity, forwards or back."""
    config = preset("high", frames=12, size=48)
    cls = design_classes(config)[0]
    values = np.array([sample_video(config, cls, i, 0)["warp"]["values"] for i in range(2000)])
    steps = np.diff(values, axis=1)  # [videos, pieces]
    assert steps.min() > 0 and steps.std() > 0.1
    np.testing.assert_allclose(steps.mean(axis=0), 0.25, atol=0.01)
    np.testing.assert_allclose(steps.std(axis=0), steps.std(axis=0)[::-1], rtol=0.1)
