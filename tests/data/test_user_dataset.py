"""Your own dataset: ``--dataset DIR`` (a folder of split lists) and ``fsar_bench.datasets``
entry points, through prepare, extract, run, aem and report."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from distributions import make_distribution

from conftest import FAST_PROBE
from fsar_bench.cli import main
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.data.user import find_dataset, folder_dataset
from fsar_bench.engine.inputs import manifest_for
from fsar_bench.episodes.manifest import EpisodeSpec
from fsar_bench.errors import FsarError
from fsar_bench.presentation.text import listing
from fsar_bench.results.summary import load_summaries
from fsar_bench.source import DataSource


def split_folder(root: Path, lines: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, text in lines.items():
        (root / f"{split}list.txt").write_text(text)
    return root


LISTS = {"train": "a/v1\na/v2\nb/v3\n", "val": "c/v4\nd/v5\n", "test": "e/v6\nf//x/f/v7.mp4\n"}


def test_a_folder_of_lists_is_a_dataset_named_by_their_hash(tmp_path):
    info = folder_dataset(split_folder(tmp_path / "My Splits", LISTS))
    assert info.name.startswith("my-splits-") and len(info.name) == len("my-splits-") + 8
    assert info.classes == {"train": 2, "val": 2, "test": 2}
    assert info.split_path("test") == tmp_path / "My Splits" / "testlist.txt"
    same = folder_dataset(split_folder(tmp_path / "copy" / "My Splits", LISTS))
    assert same.name == info.name  # the name hashes the lists, not the place
    changed = folder_dataset(split_folder(tmp_path / "x" / "My Splits", {**LISTS, "val": "c/v4\n"}))
    assert changed.name != info.name and changed.name.startswith("my-splits-")
    assert folder_dataset(tmp_path / "My Splits", name="mine").name == "mine"


@pytest.mark.parametrize(
    "lists,message",
    [
        ({"train": "a/v1\n", "val": "c/v4\n"}, "testlist.txt missing"),
        ({**LISTS, "test": "a/v9\n"}, "class 'a' is in both"),
        ({**LISTS, "test": "z/v1\n"}, "video 'v1' is in both"),
        ({**LISTS, "val": "c/v4\nnoclass\n"}, r"vallist.txt:2: malformed split line"),
    ],
)
def test_bad_folders_are_one_line_errors(tmp_path, lists, message):
    with pytest.raises(FsarError, match=message) as err:
        folder_dataset(split_folder(tmp_path / "d", lists))
    assert "\n" not in str(err.value)


def test_names_first_then_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    split_folder(tmp_path / "ucf101", LISTS)
    assert find_dataset("ucf101") == (DATASETS.get("ucf101"), None)  # the registry wins
    info, folder = find_dataset("./ucf101")
    assert folder == tmp_path / "ucf101" and info.name.startswith("ucf101-")
    source = DataSource.resolve("./ucf101", cache_dir=tmp_path / "c")
    assert source.root == tmp_path / "ucf101"  # videos default to the lists' folder
    with pytest.raises(FsarError, match="Or pass a folder holding trainlist.txt"):
        find_dataset("nosuchname")


def test_a_manifest_file_changes_with_the_split_list(tmp_path):
    from conftest import toy_index

    index = toy_index(4, 3)
    spec = EpisodeSpec(dataset="d", split="test", way=2, episodes=3)
    first = manifest_for(index, spec, tmp_path)
    other = dataclasses.replace(
        index, split=dataclasses.replace(index.split, path=None, sha256="1" * 64), missing=[]
    )

    second = manifest_for(other, spec, tmp_path)
    assert first.path != second.path and second.data["split_list_sha256"] == "1" * 64


DATASET_PLUGIN = """
from pathlib import Path

from fsar_bench.data.user import folder_dataset


def my_data():
    return folder_dataset(Path(__file__).parent / "my_lists", name="my-data")
"""


def test_an_entry_point_dataset(tmp_path, monkeypatch):
    site = make_distribution(
        tmp_path / "site",
        "fsar-plug-data",
        {"fsar_bench.datasets": {"my-data": "fsar_plug_data:my_data"}},
        {"fsar_plug_data": DATASET_PLUGIN},
    )
    split_folder(site / "my_lists", LISTS)
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    DATASETS.refresh()
    try:
        row = next(r for r in listing("datasets").splitlines() if r.startswith("my-data"))
        assert "entry point fsar-plug-data 0.1 (fsar_plug_data:my_data)" in row
        assert "fsar_plug_data" not in sys.modules
        source = DataSource.resolve("my-data", data_root=tmp_path, cache_dir=tmp_path / "c")
        assert source.name == "my-data" and source.dataset.classes["train"] == 2
        assert source.dataset.split_path("val") == site / "my_lists" / "vallist.txt"
    finally:
        DATASETS.refresh()
        sys.modules.pop("fsar_plug_data", None)


# --- end to end ------------------------------------------------------------------------------
FAST_AEM = FAST_PROBE


@pytest.mark.slow
def test_prepare_extract_run_aem_report_on_a_folder(tmp_path, capsys):
    data = generate(
        tmp_path / "videos",
        preset(
            "mid",
            train_classes=4,
            val_classes=2,
            test_classes=2,
            videos_per_class=3,
            frames=8,
            size=64,
        ),
    )
    lists = tmp_path / "my lists"
    lists.mkdir()
    for f in ("trainlist.txt", "vallist.txt", "testlist.txt"):
        shutil.copy(data / "splits" / f, lists / f)
    name = folder_dataset(lists).name
    common = ["--dataset", str(lists), "--data-root", str(data), "--cache-dir", str(tmp_path / "c")]
    assert main(["prepare", *common]) == 0
    assert f"{name} at {data}" in capsys.readouterr().out
    assert main(["extract", *common, "--size", "64", "--splits", "test", "--workers", "0"]) == 0
    (store,) = (p for p in (tmp_path / "c" / "features" / name).iterdir() if p.is_dir())
    settings = json.loads((store / "settings.json").read_text())
    assert settings["dataset"] == name and settings["split_sha256"]
    runs = tmp_path / "runs"
    args = [
        "run",
        *common,
        "--methods",
        "protonet,otam",
        "--shots",
        "1",
        "--way",
        "2",
        "--episodes",
        "6",
        "--size",
        "64",
        "--runs-dir",
        str(runs),
        "--select",
        "holdout:2",
        "--set",
        "train.episodes=2",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=3",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "selection: holdout:2 (best on held-out train classes" in out
    summaries = load_summaries(runs)
    assert {s.setting.dataset for s in summaries} == {name} and len(summaries) == 2
    held = summaries[0].select["classes"]
    train = folder_dataset(lists).split_path("train").read_text()
    assert len(held) == 2 and all(f"{c}/" in train for c in held)
    assert (
        summaries[0].select
        == summaries[1].select
        == {"mode": "holdout", "k": 2, "seed": 0, "classes": held}
    )
    assert main(["report", "--runs", str(runs), "--out", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "report.md").read_text()
    assert f"{name} 1-shot" in page and "holdout:2" in page
    out_dir = tmp_path / "aem"
    aem = ["aem", str(lists), "--data-root", str(data), "--cache-dir", str(tmp_path / "c")]
    assert main([*aem, "--out", str(out_dir), *FAST_AEM]) == 0
    assert (out_dir / name / "aem.json").is_file()
