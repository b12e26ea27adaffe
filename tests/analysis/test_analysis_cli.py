"""``aem``, ``start-times`` and ``tsne`` commands on a tiny synthetic dataset and a UCF-layout
fixture (real ARN split lists, generated frames, ``--missing skip``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from conftest import FAST_PROBE, write_frames
from fsar_bench.commands.analysis import aem, start_times, tsne
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.splits import read_split
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.errors import FsarError

FAST = FAST_PROBE


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("aem")(aem)
    app.command("start-times")(start_times)
    app.command("tsne")(tsne)
    return app


def invoke(*args: str):
    result = CliRunner().invoke(cli(), [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("syn") / "data"
    config = preset(
        "mid",
        train_classes=2,
        val_classes=2,
        test_classes=2,
        videos_per_class=4,
        frames=12,
        size=32,
    )
    return generate(root, config)


def ucf_fixture(root: Path, classes: int = 2, videos: int = 3) -> Path:
    """The first ``videos`` listed videos of the first ``classes`` classes of each split."""
    info = DATASETS.get("ucf101")
    for split in ("train", "val", "test"):
        lst = read_split(info.split_path(split))
        for cls in lst.classes[:classes]:
            ids = [v for v, c in lst.videos if c == cls][:videos]
            for k, vid in enumerate(ids):
                write_frames(root / cls / vid, 10 + k, size=32, seed=k)
    return root


@pytest.mark.slow
def test_aem_on_synthetic_writes_everything_and_reuses_the_probe(synthetic, tmp_path):
    args = [
        "aem",
        "synthetic",
        "--data-root",
        synthetic,
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        tmp_path / "out",
        *FAST,
    ]
    text = invoke(*args)
    folder = tmp_path / "out" / "synthetic-mid"
    report = json.loads((folder / "aem.json").read_text())
    assert report["mean_pairwise_cosine_distance"] == pytest.approx(
        2 * report["aem_eq10_as_printed"]
    )
    assert report["probe"]["mode"] == "feature-tsm" and "NOT the full TSM" in text
    assert report["probe"]["scored_videos"] == 12 and report["probe"]["trained_videos"] == 12
    assert "not seen in training" in report["probe"]["videos_note"]
    gt = report["ground_truth"]
    assert gt["videos"] == 12 and gt["compared"] + gt["never_reached"] == 12
    assert "ground truth" in text and "Eq. (10) as printed" in text and report["published"] is None
    rows = list(csv.DictReader(open(folder / "start_times.csv")))
    assert len(rows) == 12 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert all((folder / f).is_file() for f in ("start_times.png", "tsne_evolution.png"))
    assert len([p for p in (tmp_path / "cache" / "probes").iterdir() if p.is_dir()]) == 1
    train_json = next((tmp_path / "cache" / "probes").glob("*/train.json"))
    stamp = train_json.stat().st_mtime_ns
    again = invoke(*args)  # loads the saved probe: no training, same numbers
    assert train_json.stat().st_mtime_ns == stamp
    assert json.loads((folder / "aem.json").read_text()) == report

    def result(out: str) -> list[str]:  # the printed result, without the progress log lines
        return [ln for ln in out.split("files:")[0].splitlines() if not ln.startswith("[")]

    assert result(again) == result(text)


@pytest.mark.slow
def test_aem_ucf101_fixture_shows_the_published_value(tmp_path):
    root = ucf_fixture(tmp_path / "ucf")
    text = invoke(
        "aem",
        "ucf101",
        "--data-root",
        root,
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        tmp_path / "out",
        "--missing",
        "skip",
        "--pdf",
        *FAST,
    )
    folder = tmp_path / "out" / "ucf101"
    report = json.loads((folder / "aem.json").read_text())
    assert report["published"]["value"] == pytest.approx(0.1653) and "0.1653" in text
    assert report["probe"]["classes"] == 6 and report["probe"]["scored_videos"] == 6
    assert "ground_truth" not in report
    assert (folder / "start_times.pdf").is_file() and (folder / "tsne_evolution.pdf").is_file()


@pytest.mark.slow
def test_start_times_and_tsne_of_a_finished_ta2n_run(synthetic, tmp_path):
    from fsar_bench.cli import main

    common = [
        "--data-root",
        synthetic,
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        tmp_path / "out",
        *FAST,
    ]
    text = invoke("start-times", "synthetic-mid", *common)
    folder = tmp_path / "out" / "synthetic-mid"
    assert "start times" in text and (folder / "start_times.csv").is_file()
    run = [
        "run",
        "--methods",
        "ta2n",
        "--dataset",
        "synthetic-mid",
        "--shots",
        "1",
        "--way",
        "2",
        "--episodes",
        "2",
        "--size",
        "64",
        "--data-root",
        str(synthetic),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "train.episodes=2",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=2",
        "--set",
        "ta2n.reduce_channels=16",
    ]
    assert main(run) == 0
    (run_dir,) = (tmp_path / "runs" / "synthetic-mid").glob("ta2n-*")
    invoke("tsne", "synthetic-mid", *common, "--run", run_dir, "--query", "3")
    for name in ("tsne_evolution", "tsne_alignment_before", "tsne_alignment_after"):
        assert (folder / f"{name}.png").is_file()


def test_tsne_run_must_be_finished_and_sets_are_checked(tmp_path):
    with pytest.raises(FsarError, match="no summary.json"):
        invoke("tsne", "synthetic", "--run", tmp_path, "--cache-dir", tmp_path)
    with pytest.raises(FsarError, match="probe.FIELD"):
        invoke("aem", "synthetic", "--set", "train.epochs=3", "--cache-dir", tmp_path)
    with pytest.raises(FsarError, match="no such field"):
        invoke("aem", "synthetic", "--set", "probe.epoch=3", "--cache-dir", tmp_path)


@pytest.mark.slow
def test_missing_synthetic_dataset_is_generated_first(tmp_path, monkeypatch):
    import fsar_bench.data.prepare

    calls = []

    def tiny_prepare(info, root, cache, variant, progress=None):
        from fsar_bench.data.index import build_index

        calls.append((info.name, root))
        generate(
            root,
            preset(
                info.synthetic_preset,
                train_classes=2,
                val_classes=2,
                test_classes=2,
                videos_per_class=2,
                frames=8,
                size=32,
            ),
        )
        return [], build_index(info, root, cache, variant)

    monkeypatch.setattr(fsar_bench.data.prepare, "prepare", tiny_prepare)
    root = tmp_path / "fresh"
    invoke(
        "start-times",
        "synthetic-high",
        "--data-root",
        root,
        "--cache-dir",
        tmp_path / "cache",
        "--out",
        tmp_path / "out",
        "--seed",
        "3",
        *FAST,
    )
    assert calls == [("synthetic-high", root.resolve())]  # --seed 3 is not the data's seed
    assert (tmp_path / "out" / "synthetic-high" / "start_times.csv").is_file()
