from pathlib import Path

import pytest

from fsar_bench.data.datasets import DATASETS, SPLITS
from fsar_bench.data.splits import natural_key, parse_line, read_split
from fsar_bench.errors import FsarError

# (dataset, variant) -> (train, val, test) video counts from splits/PROVENANCE.md
COUNTS = {
    ("ucf101", ""): (9154, 1421, 2745),
    ("ucf101", "hyrsm"): (9154, 1421, 2745),
    ("hmdb51", ""): (4280, 1194, 1292),
    ("ssv2-small", ""): (6400, 1200, 2400),
    ("ssv2-small", "ta2n"): (6400, 1200, 2400),
    ("ssv2-small", "hyrsm"): (6400, 1200, 2400),
    ("ssv2-full", ""): (67013, 1926, 2857),
    ("ssv2-full", "ta2n"): (77500, 1926, 2857),
    ("kinetics-100", ""): (6400, 1200, 2400),
    ("kinetics-100", "ta2n"): (6387, 1200, 2397),
}


@pytest.mark.parametrize("key", sorted(COUNTS))
def test_shipped_lists_have_published_sizes(key):
    name, variant = key
    info = DATASETS.get(name)
    lists = {s: read_split(info.split_path(s, variant=variant)) for s in SPLITS}
    assert tuple(len(lists[s].videos) for s in SPLITS) == COUNTS[key]
    assert {s: len(lists[s].classes) for s in SPLITS} == info.classes
    ids = [set(v for v, _ in lists[s].videos) for s in SPLITS]
    classes = [set(lists[s].classes) for s in SPLITS]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not ids[i] & ids[j], "video in two splits"
            if variant != "hyrsm":  # hyrsm uses per-split indices (train0, test0) as keys
                assert not classes[i] & classes[j], "class in two splits"


def test_line_formats():
    p = Path("x.txt")
    assert parse_line("air drumming/-VtLx-mcPds_000012_000022", p, 1) == (
        "-VtLx-mcPds_000012_000022",
        "air drumming",
    )
    assert parse_line("train8/78687\n", p, 1) == ("78687", "train8")
    hy = "train0//videos/brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    assert parse_line(hy, p, 1) == ("April_09_brush_hair_u_nm_np1_ba_goo_0", "train0")


@pytest.mark.parametrize("bad", ["no_slash_here", "/video_without_class", "class/"])
def test_malformed_line_reports_file_and_line(tmp_path, bad):
    f = tmp_path / "list.txt"
    f.write_text(f"a/1\nb/2\n{bad}\n")
    with pytest.raises(FsarError, match=r"list.txt:3: malformed"):
        read_split(f)


def test_duplicate_and_empty(tmp_path):
    f = tmp_path / "dup.txt"
    f.write_text("a/1\nb/1\n")
    with pytest.raises(FsarError, match="dup.txt:2: video id '1' already listed on line 1"):
        read_split(f)
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(FsarError, match="empty"):
        read_split(tmp_path / "empty.txt")


def test_natural_class_order_and_hash(tmp_path):
    f = tmp_path / "l.txt"
    f.write_text("train10/1\ntrain2/2\ntrain1/3\n")
    lst = read_split(f)
    assert lst.classes == ("train1", "train2", "train10")
    assert sorted(["train10", "train2"], key=natural_key) == ["train2", "train10"]
    f.write_text("train10/1\ntrain2/2\ntrain1/4\n")
    assert read_split(f).sha256 != lst.sha256


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(FsarError, match="no list variant 'foo'; variants: ta2n"):
        DATASETS.get("ssv2").split_path("test", variant="foo")
