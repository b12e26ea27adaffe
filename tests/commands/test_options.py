"""Option groups: one definition for the command line and the API, one meaning per option."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from fsar_bench.cli import main
from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DataOptions, default_workers
from fsar_bench.options.features import FeatureOptions
from fsar_bench.options.run import RunOptions
from fsar_bench.options.spelling import opt


class Stop(Exception):
    """Raised by a patched stage to end a command once the value under test was seen."""


def test_a_group_is_built_once_from_its_options():
    seen = {}

    @command
    def fake(*, data: DataOptions, compute: ComputeOptions) -> None:
        seen.update(data=data, compute=compute)

    import typer

    app = typer.Typer()
    app.command()(fake)
    app(["--dataset", "ucf101", "--workers", "3", "--missing", "skip"], standalone_mode=False)
    assert seen["data"] == DataOptions(dataset="ucf101", missing="skip")
    assert seen["compute"] == ComputeOptions(workers=3)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Clash:
    """A group that spells ``--workers`` as :class:`ComputeOptions` does."""

    workers: int = opt(1, "--workers", help="x")


def test_two_groups_spelling_one_flag_are_refused():
    def fake(*, compute: ComputeOptions, clash: Clash) -> None:
        pass

    with pytest.raises(TypeError, match="defined twice"):
        command(fake)


def test_the_api_gives_the_same_group_as_the_command_line():
    typed = RunOptions(methods="otam, protonet", shots="1,5,1", sets=["otam.lam=0.5"])
    given = RunOptions(methods=["otam", "protonet"], shots=[1, 5], sets=("otam.lam=0.5",))
    assert typed == given
    assert typed.methods == ("otam", "protonet") and typed.shots == (1, 5)


def test_default_workers_is_cores_less_one():
    assert default_workers() >= 1
    assert ComputeOptions().decoders == default_workers()
    assert ComputeOptions(workers=0).decoders == 0


def test_run_seed_does_not_change_the_generated_synthetic_data(tmp_path, monkeypatch):
    """``--seed`` is the test-episode seed: a fresh cache generates the dataset from its own
    recorded seed whatever ``--seed`` says."""
    import fsar_bench.data.synthetic as synthetic
    from fsar_bench.data.synthetic import config_for

    made = []

    def fake_generate(root, config, progress=None):
        made.append(config)
        raise Stop

    monkeypatch.setattr(synthetic, "generate", fake_generate)
    for seed in ("0", "1"):
        with pytest.raises(Stop):
            main(["run", "--seed", seed, "--cache-dir", str(tmp_path / seed)])
    assert made == [config_for("mid"), config_for("mid")]
    assert made[0].seed == 0


def test_run_workers_reach_feature_extraction(tmp_path, monkeypatch):
    import fsar_bench.features.extract as extract

    seen = {}

    def fake_features(*args, workers=None, **kwargs):
        seen["workers"] = workers
        raise Stop

    monkeypatch.setattr(extract, "ensure_features", fake_features)
    root = tmp_path / "data"
    _tiny_synthetic(root)
    args = ["run", "--data-root", str(root), "--cache-dir", str(tmp_path / "c"), "--workers", "3"]
    args += ["--shots", "1"]  # the plan draws the episodes first: 2 videos per class
    with pytest.raises(Stop):
        main(args)
    assert seen["workers"] == 3


def test_size_and_seed_bounds_are_one_line_errors(tmp_path, capsys):
    for bad in (["--size", "20000"], ["--seed", "99999999999999999999999"], ["--seed", "-1"]):
        assert main(["run", "--cache-dir", str(tmp_path), *bad]) == 2, bad
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:"), err


def test_feature_group_reaches_the_run_request():
    req = RunOptions(methods="protonet").request(
        ComputeOptions(device="cpu", workers=2),
        FeatureOptions(size=96, frames=6, weights=Path("w.pth")),
    )
    assert (req.size, req.frames, req.weights, req.workers) == (96, 6, "w.pth", 2)


def _tiny_synthetic(root: Path) -> None:
    from fsar_bench.data.synthetic import generate, preset

    small = dict(train_classes=6, val_classes=6, test_classes=6, videos_per_class=2)
    generate(root, preset("mid", **small, frames=8, size=32))
