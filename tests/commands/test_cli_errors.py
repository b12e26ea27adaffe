"""Every user error reachable from the CLI is one line on stderr and exit status 2: usage
errors, bad values that reach torch or numpy, unwritable outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import toy_index
from fsar_bench.cli import main
from fsar_bench.data.index import SplitIndex
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest
from fsar_bench.errors import FsarError


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("errors") / "data"
    return generate(
        root,
        preset(
            "mid",
            train_classes=2,
            val_classes=2,
            test_classes=2,
            videos_per_class=3,
            frames=8,
            size=32,
        ),
    )


CASES = [
    (["run", "--way", "abc"], "error: Invalid value for '--way'", "(see 'fsar-bench run --help')"),
    (["run", "--nope"], "error: No such option: --nope", "run --help')"),
    (["nope"], "error: No such command 'nope'.", "(see 'fsar-bench --help')"),
    (["aem"], "error: Missing argument 'dataset'.", "aem --help')"),
    (["run", "--seed", "-1"], "'--seed': Input should be greater than or equal to 0", ""),
    (["extract", "--seed", "-2"], "'--seed'", ""),
    (["aem", "synthetic", "--seed", "-1"], "'--seed'", ""),
    (["episodes", "--seed", "-1", "--out", "x"], "'--seed'", ""),
    (["extract", "--workers", "-3"], "'--workers'", ""),
    (["run", "--device", "tpu", "--methods", "otam"], "--device 'tpu': not a device", ""),
]


@pytest.mark.parametrize("args,start,end", CASES)
def test_bad_options_are_one_line(args, start, end, capsys, tmp_path):
    assert main([*args, *(["--cache-dir", str(tmp_path)] if len(args) > 1 else [])]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:"), err
    assert start in err and err.endswith(end) and not captured.out


def episodes(data: Path, tmp_path: Path, *extra: str) -> int:
    args = [
        "episodes",
        "--data-root",
        str(data),
        "--cache-dir",
        str(tmp_path / "c"),
        "--episodes",
        "2",
    ]
    return main([*args, *extra])


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--way", "1", "--out", "m.json"], "--way': Input should be greater than or equal to 2"),
        (["--way", "2", "--out", "/proc/nope/m.json"], "cannot write the episode manifest"),
        (
            ["--way", "2", "--split", "val", "--shot", "3", "--out", "m.json"],
            "3-shot 1-query episodes need 4 videos per class",
        ),
    ],
)
def test_episodes_errors(data, tmp_path, capsys, extra, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert episodes(data, tmp_path, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_a_split_without_classes_says_so():
    index = toy_index(3, 2)
    empty = SplitIndex(split=index.split, videos=[], missing=list(index.split.videos))
    with pytest.raises(FsarError, match="has 0 classes with videos; few-shot episodes need"):
        build_manifest(empty, EpisodeSpec(dataset="ssv2-full", split="val"))
