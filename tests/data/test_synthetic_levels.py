"""Single-factor synthetic levels: configs, canonical names, dataset resolution, cache keys."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from fsar_bench.data import paths
from fsar_bench.data.datasets import DATASETS, resolve_dataset
from fsar_bench.data.synthetic import (
    FACTORS,
    LEVEL_CONFIGS,
    LEVELS,
    SPLITS,
    config_for,
    factor_config,
    generate,
    level_name,
    load_ground_truth,
)
from fsar_bench.errors import FsarError

FIELD = {"duration": "duration", "evolution": "warp_sigma", "spatial": "offset"}
MISALIGNMENT_FIELDS = ("duration", "warp_sigma", "offset")


@pytest.mark.parametrize("factor", FACTORS)
@pytest.mark.parametrize("level", LEVELS)
def test_named_level_moves_one_factor_only(factor: str, level: str) -> None:
    config = factor_config(factor, level)
    none = LEVEL_CONFIGS["none"]
    for name in MISALIGNMENT_FIELDS:
        want = getattr(LEVEL_CONFIGS[level] if name == FIELD[factor] else none, name)
        assert getattr(config, name) == want, name
    others = {f.name for f in dataclasses.fields(config)} - {*MISALIGNMENT_FIELDS, "preset"}
    assert all(getattr(config, f) == getattr(none, f) for f in others)
    assert config.preset == ("none" if level == "none" else f"{factor}-{level}")


def test_numeric_level_is_the_factors_own_parameter() -> None:
    assert factor_config("evolution", 2).warp_sigma == 2.0
    assert factor_config("spatial", "0.2").offset == 0.2
    assert factor_config("duration", 0.4).duration == (0.4, 1.0)
    assert factor_config("duration", 0.4, seed=3).seed == 3


@pytest.mark.parametrize(
    ("factor", "level", "name"),
    [
        ("evolution", "0.5", "evolution-mid"),  # equal to a named level's value: that name
        ("evolution", 2.0, "evolution-2"),
        ("evolution", "0.750", "evolution-0.75"),
        ("duration", 0.8, "duration-low"),  # U(0.8, 1) is the low preset's range
        ("duration", 0.6, "duration-0.6"),  # the mid preset's range is (0.6, 0.9)
        ("spatial", 0, "none"),
        ("duration", "1", "none"),
        ("spatial", "HIGH", "spatial-high"),
    ],
)
def test_names_are_canonical(factor: str, level: object, name: str) -> None:
    assert level_name(factor, level) == name
    assert config_for(name) == factor_config(factor, level)


def test_resolve_builds_single_factor_datasets() -> None:
    info = resolve_dataset(" Synthetic-Evolution-0.5 ")
    assert info.name == "synthetic-evolution-mid" and info.is_synthetic
    assert config_for(info.synthetic_preset).warp_sigma == LEVEL_CONFIGS["mid"].warp_sigma
    assert "evolution misalignment only" in info.title
    assert resolve_dataset("synthetic-spatial-none") is DATASETS.get("synthetic-none")
    assert resolve_dataset("synthetic") is DATASETS.get("synthetic-mid")
    assert resolve_dataset("ssv2") is DATASETS.get("ssv2-full")
    assert info.split_path("test", Path("/d")) == Path("/d/splits/testlist.txt")


def test_data_folders_key_on_the_canonical_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("FSAR_DATA_ROOT", raising=False)
    roots = {
        n: paths.data_root(resolve_dataset(n), cache=tmp_path)
        for n in ("synthetic-evolution-high", "synthetic-evolution-1", "synthetic-duration-high")
    }
    assert roots["synthetic-evolution-high"] == roots["synthetic-evolution-1"]
    assert roots["synthetic-evolution-high"] == tmp_path.resolve() / "data/synthetic-evolution-high"
    assert roots["synthetic-duration-high"].name == "synthetic-duration-high"


@pytest.mark.parametrize(
    ("name", "expect"),
    [
        ("synthetic-evolutoin-high", "did you mean synthetic-evolution-high"),
        ("synthetic-evolution-hihg", "did you mean high"),
        ("synthetic-spatial-0.5", "offset must be in [0, 0.25]"),
        ("synthetic-duration-0", "need 0 < duration <= 1"),
        ("synthetic-evolution--1", "warp_sigma must be >= 0"),
        ("synthetic-evolution-inf", "finite number"),
        ("synthetic-foo", "single-factor synthetic levels"),
        ("ucf11", "did you mean ucf101"),
    ],
)
def test_bad_names_fail_in_one_line(name: str, expect: str) -> None:
    with pytest.raises(FsarError) as err:
        resolve_dataset(name)
    assert expect in str(err.value).lower() and "\n" not in str(err.value)


def test_config_json_differs_per_level_and_records_it(tmp_path: Path) -> None:
    tiny = {"train_classes": 2, "val_classes": 2, "test_classes": 2, "videos_per_class": 2}
    tiny |= {"frames": 12, "size": 32}
    found = {}
    for factor in FACTORS:
        root = generate(tmp_path / factor, factor_config(factor, "high", **tiny))
        found[factor] = json.loads((root / "config.json").read_text())["config"]
        truth = load_ground_truth(root)
        if factor == "evolution":
            assert all(r["duration"] == 12 and r["start_frame"] == 0 for r in truth)
            assert any(r["warp"]["values"] != r["warp"]["knots"] for r in truth)
        if factor == "spatial":
            assert any(r["offset"] != [0.0, 0.0] for r in truth)
            assert all(r["warp"]["sigma"] == 0 for r in truth)
    assert len({json.dumps(c, sort_keys=True) for c in found.values()}) == 3
    assert found["duration"]["preset"] == "duration-high"


def test_prepare_generates_the_named_levels_config(tmp_path: Path, monkeypatch) -> None:
    import fsar_bench.data.prepare as prepare_module
    import fsar_bench.data.synthetic as synthetic

    seen = []
    monkeypatch.setattr(
        synthetic, "generate", lambda root, config, progress=None: seen.append(config)
    )
    monkeypatch.setattr(prepare_module, "build_index", lambda *a, **k: dict.fromkeys(SPLITS))
    monkeypatch.setattr(prepare_module, "split_report", lambda split, ix: split)
    info = resolve_dataset("synthetic-spatial-0.2")
    prepare_module.prepare(info, tmp_path, tmp_path)
    assert seen == [factor_config("spatial", 0.2)]
