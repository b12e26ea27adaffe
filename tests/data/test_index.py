import json
import shutil

import pytest

from conftest import SSV2_SAMPLE, VIDEOS, need, write_frames
from fsar_bench.data.datasets import DATASETS, DatasetInfo
from fsar_bench.data.index import build_index, load_index
from fsar_bench.data.splits import read_split
from fsar_bench.errors import FsarError


def toy_info() -> DatasetInfo:
    """A dataset whose lists live in the data root (like the synthetic ones)."""
    files = {s: f"lists/{s}.txt" for s in ("train", "val", "test")}
    return DatasetInfo(
        name="toy",
        title="toy",
        protocol="toy",
        split_files=files,
        classes={"train": 1, "val": 1, "test": 2},
        variants={},
        synthetic_preset="x",
    )


def write_lists(root, lines):
    (root / "lists").mkdir(parents=True, exist_ok=True)
    for split, rows in lines.items():
        (root / "lists" / f"{split}.txt").write_text("\n".join(rows) + "\n")


def test_every_common_layout_is_found_by_video_id(tmp_path, cache):
    root = tmp_path / "data"
    write_frames(root / "jump" / "v1", 5)  # class/video/frames
    write_frames(root / "v2", 6)  # video/frames
    write_frames(root / "test3" / "v3", 7)  # <split><k>/video/frames (folder is NOT the label)
    if VIDEOS.exists():
        shutil.copy(VIDEOS / "test.avi", root / "v4.avi")  # video file
        n4 = 164
    else:
        write_frames(root / "v4", 4)
        n4 = 4
    write_lists(
        root,
        {"train": ["jump/v1"], "val": ["run/v2"], "test": ["swim/v3", "dive/v4", "dive/gone"]},
    )
    ix = build_index(toy_info(), root, cache)
    found = {v.video_id: (v.class_key, v.n_frames) for s in ix.values() for v in s.videos}
    assert found == {"v1": ("jump", 5), "v2": ("run", 6), "v3": ("swim", 7), "v4": ("dive", n4)}
    assert ix["test"].missing == [("gone", "dive")]
    with pytest.raises(FsarError, match="1 of 3 listed videos are missing"):
        load_index(toy_info(), root, cache, missing="error", splits=("test",))
    assert len(load_index(toy_info(), root, cache, missing="skip")["test"].videos) == 2
    assert load_index(toy_info(), root, cache, missing="error", splits=("train",))


def test_duplicate_ids_prefer_the_class_folder(tmp_path, cache):
    root = tmp_path / "data"
    write_frames(root / "a_other" / "v1", 3)
    write_frames(root / "Jump" / "v1", 9)
    write_lists(root, {"train": ["jump/v1"], "val": ["x/v9"], "test": ["y/v8", "z/v7"]})
    ix = build_index(toy_info(), root, cache)
    assert ix["train"].videos[0].path == "Jump/v1" and ix["train"].ambiguous == 1


def test_index_is_reused_and_rebuilt_when_a_list_changes(tmp_path, cache):
    root = tmp_path / "data"
    write_frames(root / "v1", 3)
    write_lists(root, {"train": ["a/v1"], "val": ["b/v1x"], "test": ["c/v1y", "d/v1z"]})
    build_index(toy_info(), root, cache)
    write_frames(root / "v1x", 4)
    ix = load_index(toy_info(), root, cache, missing="skip")
    assert ix["val"].videos == []  # stale on disk but lists unchanged: the saved index is used
    write_lists(root, {"train": ["a/v1"], "val": ["b/v1x", "b/v1"], "test": ["c/v1y", "d/v1z"]})
    ix = load_index(toy_info(), root, cache, missing="skip")
    assert [v.video_id for v in ix["val"].videos] == ["v1x", "v1"]


def test_missing_root_is_a_clear_error(tmp_path, cache):
    with pytest.raises(FsarError, match="does not exist"):
        build_index(DATASETS.get("ucf101"), tmp_path / "nope", cache)


def test_real_ssv2_sample_loads_as_ssv2_full_with_labels_from_the_lists(cache):
    root = need(SSV2_SAMPLE)
    info = DATASETS.get("ssv2")
    ix = build_index(info, root, cache)
    assert [len(ix[s].videos) for s in ("train", "val", "test")] == [100, 0, 50]
    assert len(ix["test"].missing) == 2857 - 50
    lists = {s: dict(read_split(info.split_path(s)).videos) for s in ("train", "test")}
    for split in ("train", "test"):
        for v in ix[split].videos:
            assert v.n_frames == 8
            assert v.class_key == lists[split][v.video_id]
    # The sample's val/valK folders hold OTAM *train* class K+5 (fixtures/README.md).
    val_folder = [v for v in ix["train"].videos if v.path.startswith("val/")]
    assert len(val_folder) == 50
    for v in val_folder:
        k = int(v.path.split("/")[1][3:])
        assert v.class_key == f"train{k + 5}"
    saved = json.loads(next((cache / "index").glob("ssv2-full-*.json")).read_text())
    assert saved["splits"]["test"]["sha256"] == ix["test"].split.sha256
