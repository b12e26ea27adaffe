"""Backbones: contract over the registry, real ImageNet weights, offline weight handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.features.backbones import (
    crop,
    default_backbone,
    load_backbone,
    resize_short,
    resolve_weights,
    sha256_file,
)
from fsar_bench.features.efficientnet_lite import Conv2dSame
from fsar_bench.runtime import pick_device

NAMES = BACKBONES.names()


@pytest.fixture(scope="module")
def random_models():
    return {n: load_backbone(n, resolve_weights(n, random_init=True)) for n in NAMES}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [40])
def test_contract_shape_and_finite(random_models, name, size):
    info = BACKBONES.get(name)
    frames = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8)
    with torch.inference_mode():
        out = random_models[name](frames)
    side = math.ceil(size / info.stride)
    assert out.shape == (2, info.channels, side, side)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", NAMES)
def test_random_init_is_the_same_in_every_build(random_models, name):
    again = load_backbone(name, resolve_weights(name, random_init=True))
    for a, b in zip(random_models[name].state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)


def _imagenet_top5(images: list[np.ndarray]) -> list[list[int]]:
    """Top-5 ImageNet classes of EfficientNet-Lite0 at 224 px (resize 256, centre crop)."""
    model = load_backbone("efficientnet-lite0")
    x = [crop(resize_short(torch.from_numpy(im).permute(2, 0, 1)[None], 224), 224) for im in images]
    with torch.inference_mode():
        logits = model.trunk.logits(model(torch.cat(x)))
    return logits.topk(5).indices.tolist()


def test_efficientnet_lite0_weights_are_real_imagenet_weights():
    import skimage.data

    cat, coffee = _imagenet_top5([skimage.data.chelsea(), skimage.data.coffee()])
    assert 281 <= cat[0] <= 285, cat  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee[0] in (967, 968), coffee  # espresso, cup


def test_conv2d_same_matches_tensorflow_same_padding():
    torch.manual_seed(0)
    for size in (7, 8, 9):
        for k, s in ((3, 1), (3, 2), (5, 2), (1, 1)):
            conv = Conv2dSame(2, 3, k, s, bias=False)
            x = torch.randn(1, 2, size, size)
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            lo, hi = total // 2, total - total // 2  # TF: the extra pixel goes after
            want = F.conv2d(F.pad(x, (lo, hi, lo, hi)), conv.weight, stride=s)
            assert conv(x).shape[-1] == math.ceil(size / s)
            torch.testing.assert_close(conv(x), want)


def test_missing_resnet_weights_is_an_error_that_says_how(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("must never download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(FsarError, match="--weights PATH") as err:
        resolve_weights("resnet50")
    assert "resnet50-0676ba61.pth" in str(err.value)


def test_resnet_weights_from_a_file_and_a_wrong_file(tmp_path):
    from torchvision.models import resnet50

    torch.manual_seed(1)
    good = tmp_path / "r50.pth"
    torch.save(resnet50(weights=None).state_dict(), good)
    weights = resolve_weights("resnet50", good)
    assert weights.sha256 == sha256_file(good)
    model = load_backbone("resnet50", weights)
    saved = torch.load(good, weights_only=True)
    assert torch.equal(model.trunk[0].weight, saved["conv1.weight"])
    with pytest.raises(FsarError, match="does not fit"):
        load_backbone("resnet50", resolve_weights("efficientnet-lite0"))


def test_unknown_backbone_suggests_names():
    with pytest.raises(FsarError, match="efficientnet-lite0"):
        resolve_weights("efficientnet-lite")


def test_device_and_default_backbone_selection():
    assert pick_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert pick_device().type == "cpu"
        assert default_backbone() == "efficientnet-lite0"
        with pytest.raises(FsarError, match="CUDA"):
            pick_device("cuda")


def test_crop_centre_random_and_flip():
    frames = torch.arange(2 * 3 * 6 * 9).reshape(2, 3, 6, 9)
    assert torch.equal(crop(frames, 4), frames[..., 1:5, 2:6])  # torchvision CenterCrop
    assert torch.equal(crop(frames, 4, 0.0, 0.999), frames[..., 0:4, 5:9])
    assert torch.equal(crop(frames, 4, 0.99, 0.0, flip=1), frames[..., 2:6, 0:4].flip(-1))


@pytest.mark.parametrize("shape", [(60, 90), (341, 256), (128, 128)])
def test_resize_short_side_is_torchvision_resize(shape):
    from torchvision.transforms.v2.functional import resize

    frames = torch.randint(0, 256, (2, 3, *shape), dtype=torch.uint8)
    want = resize(frames, [128], antialias=True)  # 112 * 256 / 224 = 128
    assert torch.equal(resize_short(frames, 112), want)
