"""Temporal shift against a loop reference; TSM ResNet-50 and the feature probe built on it."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models import resnet50
from torchvision.models.resnet import Bottleneck

from fsar_bench.analysis.probe.temporal_shift import TemporalShift, temporal_shift
from fsar_bench.analysis.probe.tsm import (
    FeatureTSMProbe,
    class_probabilities,
    tsm_resnet50,
)
from fsar_bench.errors import FsarError


def shift_loop(x: torch.Tensor, t_len: int, fold_div: int) -> torch.Tensor:
    """Obvious reference: channel c of frame t of video n, one element block at a time."""
    nt, c, _, _ = x.shape
    fold = c // fold_div
    out = torch.zeros_like(x)
    for n in range(nt // t_len):
        for t in range(t_len):
            for ch in range(c):
                if ch < fold:
                    src = t + 1  # the next frame
                elif ch < 2 * fold:
                    src = t - 1  # the previous frame
                else:
                    src = t
                if 0 <= src < t_len:
                    out[n * t_len + t, ch] = x[n * t_len + src, ch]
    return out


@pytest.mark.parametrize(("t_len", "c", "fold_div"), [(4, 16, 8), (3, 10, 4), (5, 7, 8), (1, 8, 8)])
def test_shift_matches_loop(t_len: int, c: int, fold_div: int) -> None:
    x = torch.randn(2 * t_len, c, 2, 3)
    torch.testing.assert_close(temporal_shift(x, t_len, fold_div), shift_loop(x, t_len, fold_div))


def test_zeros_at_the_ends_and_untouched_channels() -> None:
    x = torch.randn(2 * 4, 16, 2, 2) + 10.0  # no element is zero
    y = temporal_shift(x, 4, 8).view(2, 4, 16, 2, 2)
    assert (y[:, -1, :2] == 0).all()  # nothing after the last frame
    assert (y[:, 0, 2:4] == 0).all()  # nothing before the first frame
    assert (y[:, :-1, :2] != 0).all() and (y[:, 1:, 2:4] != 0).all()
    torch.testing.assert_close(y[:, :, 4:], x.view(2, 4, 16, 2, 2)[:, :, 4:], rtol=0, atol=0)


def test_gradient_flows_back_through_the_shift() -> None:
    x = torch.randn(2 * 4, 16, 2, 2, requires_grad=True)
    w = torch.randn(2 * 4, 16, 2, 2)
    (temporal_shift(x, 4) * w).sum().backward()
    # d/dx of sum(shift(x) * w) is w shifted the opposite way.
    xr = x.detach().clone().requires_grad_(True)
    (shift_loop(xr, 4, 8) * w).sum().backward()
    torch.testing.assert_close(x.grad, xr.grad)
    g = x.grad.view(2, 4, 16, 2, 2)
    assert (g[:, 0, :2] == 0).all() and (g[:, -1, 2:4] == 0).all()  # values that fell off


def test_bad_layout_is_rejected_and_input_untouched() -> None:
    with pytest.raises(ValueError, match="n_segment=3"):
        temporal_shift(torch.zeros(8, 16, 1, 1), 3)
    x = torch.randn(8, 16, 1, 1)
    before = x.clone()
    temporal_shift(x, 4)
    torch.testing.assert_close(x, before, rtol=0, atol=0)


def test_temporal_shift_module_shifts_then_applies_net() -> None:
    conv = nn.Conv2d(16, 4, 1)
    x = torch.randn(8, 16, 3, 3)
    torch.testing.assert_close(TemporalShift(conv, 4)(x), conv(shift_loop(x, 4, 8)))


def test_tsm_resnet50_structure_and_outputs() -> None:
    torch.manual_seed(0)
    model = tsm_resnet50(num_classes=5, n_segment=4, random_init=True).eval()
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    assert all(isinstance(b.conv1, TemporalShift) for b in blocks)
    assert sum(isinstance(m, TemporalShift) for m in model.modules()) == 16
    # Identity paths untouched: no shift in any downsample branch.
    assert not any(
        isinstance(m, TemporalShift) for b in blocks if b.downsample for m in b.downsample.modules()
    )
    # Functionally: with the residual branch silenced, a block is relu(x): its input not shifted.
    block = model.base_model.layer1[1]
    nn.init.zeros_(block.bn3.weight)
    nn.init.zeros_(block.bn3.bias)
    x = torch.randn(8, 256, 4, 4)
    torch.testing.assert_close(block(x), torch.relu(x))

    frames = torch.randn(2 * 4, 3, 64, 64)
    with torch.no_grad():
        out = model(frames)
        moved = frames.clone()
        moved[4:] = torch.randn(4, 3, 64, 64)  # change video 1 only
        out2 = model(moved)
    assert out.frame_logits.shape == (2, 4, 5) and out.video_logits.shape == (2, 5)
    torch.testing.assert_close(out.video_logits, out.frame_logits.mean(1))
    torch.testing.assert_close(out2.frame_logits[0], out.frame_logits[0])  # no leak across videos
    assert not torch.allclose(out2.frame_logits[1], out.frame_logits[1])


def test_tsm_resnet50_without_weights_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(FsarError, match=r"resnet50-.*\.pth .*weights=PATH"):
        tsm_resnet50(5, 4)
    with pytest.raises(FsarError, match="not found"):
        tsm_resnet50(5, 4, weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="not both"):
        tsm_resnet50(5, 4, weights=tmp_path / "missing.pth", random_init=True)


@pytest.mark.slow
def test_tsm_resnet50_loads_a_cached_state_dict(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    source = resnet50(weights=None)
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(source.state_dict(), checkpoints / "resnet50-0676ba61.pth")
    model = tsm_resnet50(5, 4)
    torch.testing.assert_close(
        model.base_model.layer2[0].conv1.net.weight, source.layer2[0].conv1.weight
    )
    torch.save({"conv1.weight": source.conv1.weight}, tmp_path / "partial.pth")
    with pytest.raises(FsarError, match="not a torchvision ResNet-50"):
        tsm_resnet50(5, 4, weights=tmp_path / "partial.pth")


def _activate(probe: FeatureTSMProbe) -> FeatureTSMProbe:
    """Give the zero-initialised residual branches a non-zero scale so they mix frames."""
    for block in probe.blocks:
        nn.init.ones_(block.branch[-1].weight)
    return probe.eval()


def test_feature_probe_starts_as_a_linear_classifier() -> None:
    torch.manual_seed(0)
    probe = FeatureTSMProbe(32, 6, hidden=8).eval()
    x = torch.randn(3, 4, 32, 2, 2)
    expected = probe.fc(torch.relu(x).mean(dim=(3, 4)))  # zero-init branches: blocks are relu
    torch.testing.assert_close(probe(x).frame_logits, expected)


@pytest.mark.parametrize("spatial", [True, False])
def test_feature_probe_receptive_field_is_one_frame_per_block(spatial: bool) -> None:
    torch.manual_seed(0)
    probe = _activate(FeatureTSMProbe(32, 6, hidden=8, n_blocks=1, spatial=spatial))
    shape = (2, 5, 32, 2, 2) if spatial else (2, 5, 32)
    x = torch.randn(shape)
    moved = x.clone()
    moved[0, 0] = torch.randn(shape[2:])  # change frame 0 of video 0
    with torch.no_grad():
        a, b = probe(x), probe(moved)
    assert a.frame_logits.shape == (2, 5, 6) and a.video_logits.shape == (2, 6)
    changed = (a.frame_logits - b.frame_logits).abs().amax(-1) > 1e-6  # [N, T]
    assert changed.tolist() == [[True, True, False, False, False], [False] * 5]
    with pytest.raises(ValueError, match="expected"):
        probe(x[..., 0])


def test_class_probabilities_layout() -> None:
    logits = torch.randn(3, 4, 6)
    probs = class_probabilities(logits)
    assert probs.shape == (3, 6, 4)
    torch.testing.assert_close(
        torch.from_numpy(probs).sum(1), torch.ones(3, 4, dtype=torch.float64)
    )
    torch.testing.assert_close(
        torch.from_numpy(probs[1, :, 2]), torch.softmax(logits[1, 2].double(), 0)
    )
