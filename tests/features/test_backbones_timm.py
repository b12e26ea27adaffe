"""``timm:<model>`` backbones: tiny timm test models with weights from a file, through extract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_dataset
from fsar_bench.cli import main
from fsar_bench.data.datasets import DATASETS
from fsar_bench.data.index import load_index
from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import load_backbone, resolve_weights
from fsar_bench.features.cache import FeatureStore
from fsar_bench.features.settings import ExtractConfig, settings_key, split_settings
from fsar_bench.features.views import load_views

timm = pytest.importorskip("timm")

INFO = DATASETS.get("synthetic-mid")  # split lists live in the data root: any tiny dataset fits
VIT, CNN = "test_vit.r160_in1k", "test_resnet.r160_in1k"  # timm's tiny test models


def save_weights(folder: Path, model_name: str, seed: int, suffix: str, **kwargs) -> Path:
    """A state dict of a seeded random ``model_name`` in a ``.pth`` or ``.safetensors`` file."""
    torch.manual_seed(seed)
    state = timm.create_model(model_name, **kwargs).state_dict()
    path = folder / f"{model_name}-{seed}{suffix}"
    if suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("timm") / "data", per_split=2)


def extract(data: Path, cache: Path, backbone: str, *extra: str) -> int:
    args = ["extract", "--dataset", "synthetic", "--data-root", str(data), "--cache-dir"]
    args += [str(cache), "--backbone", backbone, "--frames", "3", "--size", "64"]
    return main([*args, "--splits", "test", "--workers", "0", *extra])


def stored(cache: Path) -> FeatureStore:
    (folder,) = (p for p in (cache / "features" / INFO.name).iterdir() if p.is_dir())
    return FeatureStore(folder)


def oracle_maps(model_name: str, weights: Path, clip: torch.Tensor) -> torch.Tensor:
    """Expected ``[T, C, h, w]`` of uint8 frames ``clip`` ``[T, 3, S, S]``: timm directly, each
    ViT patch token ``1 + i * w + j`` (after the class token) copied to map position ``(i, j)``."""
    vit = model_name.startswith("test_vit")
    kwargs = {"dynamic_img_size": True} if vit else {}
    model = timm.create_model(model_name, num_classes=0, **kwargs).eval()
    model.load_state_dict(torch.load(weights) if weights.suffix == ".pth" else _st(weights))
    cfg = model.pretrained_cfg
    mean, std = (torch.tensor(cfg[k]).view(1, 3, 1, 1) for k in ("mean", "std"))
    with torch.no_grad():
        y = model.forward_features((clip.float() / 255 - mean) / std)
    if not vit:
        return y
    side = clip.shape[-1] // 16
    maps = torch.zeros(len(clip), y.shape[-1], side, side)
    for i in range(side):
        for j in range(side):
            maps[:, :, i, j] = y[:, 1 + i * side + j]
    return maps


def _st(path: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(str(path)).items() if not k.startswith("head.")}


@pytest.mark.parametrize(
    "model_name,suffix,shape",
    [(VIT, ".safetensors", (3, 64, 4, 4)), (CNN, ".pth", (3, 96, 2, 2))],
)
def test_extract_with_a_weight_file_gives_the_models_maps(
    data, tmp_path, model_name, suffix, shape
):
    # the ViT file keeps a 10-class head (ignored), the CNN's has none
    heads = {"num_classes": 10} if suffix == ".safetensors" else {"num_classes": 0}
    weights = save_weights(tmp_path, model_name, 1, suffix, **heads)
    assert (
        extract(data, tmp_path / "c", f"timm:{model_name.split('.')[0]}", "--weights", str(weights))
        == 0
    )
    store = stored(tmp_path / "c")
    assert store.meta.backbone == f"timm:{model_name}"
    assert (
        store.meta.settings["weights_sha256"]
        == resolve_weights(f"timm:{model_name}", weights).sha256
    )
    maps = store.get(["test1"])[0]
    assert maps.shape == shape
    idx = store.indices(["test1"]).numpy()
    clip = load_views(data / "frames" / "test1", idx, np.array([[-1, -1, 0]]), 64)
    torch.testing.assert_close(maps, oracle_maps(model_name, weights, clip), atol=2e-2, rtol=1e-2)


def test_the_cache_key_holds_the_model_name_and_the_weight_hash(data, tmp_path):
    index = load_index(INFO, data, tmp_path, splits=("test",))["test"]
    first = save_weights(tmp_path, VIT, 1, ".pth", num_classes=0)
    second = save_weights(tmp_path, VIT, 2, ".pth", num_classes=0)
    copy = tmp_path / "copy.pth"
    copy.write_bytes(first.read_bytes())

    def key(backbone: str, path: Path) -> str:
        config = ExtractConfig(backbone=backbone, frames=3, size=64)
        weights = resolve_weights(backbone, path)
        settings = split_settings(
            info=INFO, variant="", split="test", ix=index, root=data, config=config, weights=weights
        )
        assert settings["backbone"] == BACKBONES.get(backbone).name  # kept whole, with its tag
        return settings_key(settings)

    assert key("timm:test_vit", first) == key(f"timm:{VIT}", copy)  # same bytes, same model
    assert key("timm:test_vit", first) != key("timm:test_vit", second)
    assert key("timm:test_vit", first) != key("timm:test_vit2", first)


def test_missing_or_unfit_weights_and_bad_sizes_are_one_line_errors(data, tmp_path, capsys):
    assert extract(data, tmp_path / "c", "timm:test_vit") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--weights PATH" in err
    assert f"timm.create_model('{VIT}', pretrained=True, num_classes=0)" in err
    assert extract(data, tmp_path / "c", "timm:test_vit", "--weights", "nowhere.pth") == 2
    assert "--weights nowhere.pth: no such file" in capsys.readouterr().err
    cnn = save_weights(tmp_path, CNN, 1, ".pth", num_classes=0)
    with pytest.raises(FsarError, match="does not fit VisionTransformer"):
        load_backbone("timm:test_vit", resolve_weights("timm:test_vit", cnn))
    assert extract(data, tmp_path / "c", "timm:test_vit", "--random-init", "--size", "72") == 2
    assert "--size must be a multiple of its patch 16 (64 or 80)" in capsys.readouterr().err


def test_unknown_timm_names_suggest_close_ones():
    with pytest.raises(FsarError, match="Did you mean timm:vit_tiny_patch16_224"):
        BACKBONES.get("timm:vit_tiny_patch16_22")
    with pytest.raises(
        FsarError, match="unknown pretrained tag .* Did you mean timm:test_vit.r160"
    ):
        BACKBONES.get("timm:test_vit.r16_in1k")


@pytest.mark.parametrize("name,expected", [(VIT, (64, 16, 160)), (CNN, (96, 32, 160))])
def test_metadata_comes_from_the_model_config(name, expected):
    info = BACKBONES.get(f"timm:{name.split('.')[0]}")
    model = timm.create_model(name, num_classes=0)
    assert model.num_features == expected[0] and model.pretrained_cfg["input_size"][-1] == 160
    assert (info.channels, info.stride, info.default_size) == expected
    assert info.name == f"timm:{name}" and BACKBONES.origin(info.name).startswith("built-in family")


def test_random_init_is_seeded_and_vit_maps_follow_the_patch_grid():
    a, b = (
        load_backbone("timm:test_vit", resolve_weights("timm:test_vit", random_init=True))
        for _ in "ab"
    )
    frames = torch.randint(0, 256, (2, 3, 48, 80), dtype=torch.uint8)
    with torch.inference_mode():
        out = a(frames)
        torch.testing.assert_close(out, b(frames))
    assert out.shape == (2, 64, 3, 5)  # 48 x 80 px, patch 16
