"""TA2N's channels-last offset-net helpers equal the channels-first modules they replace."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fsar_bench.methods.ta2n_conv import (
    batch_norm_last,
    batch_norm_pool,
    conv3d_last,
    dense_spatial_weight,
    dense_weight,
    max_pool_floor,
    max_pool_hw,
)


def _last(x):  # [B, C, T, H, W] -> [B, T, H, W, C]
    return x.permute(0, 2, 3, 4, 1)


@pytest.mark.parametrize("hw", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)])
def test_conv3d_last_matches_conv3d_with_gradients(hw):
    torch.manual_seed(0)
    conv = nn.Conv3d(6, 5, 3, padding=1).double()
    x = torch.randn(4, 6, 3, *hw, dtype=torch.float64, requires_grad=True)
    want = _last(conv(x))
    params = (x, conv.weight, conv.bias)
    grads = torch.autograd.grad(want.square().sum(), params)
    got = conv3d_last(conv, _last(x))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for g, h in zip(grads, torch.autograd.grad(got.square().sum(), params)):
        torch.testing.assert_close(h, g, rtol=0, atol=1e-11)


def test_dense_weight_reads_only_taps_inside_the_padding():
    weight = torch.arange(27.0).view(1, 1, 3, 3, 3)
    dense = dense_spatial_weight(weight, 1, 2)  # rows (dt, p_in), columns p_out; p = (0, col)
    # output column 0 reads input column 0 through tap (1, 1) and input column 1 through (1, 2)
    assert dense[:, 0].tolist() == [4.0, 5.0, 13.0, 14.0, 22.0, 23.0]
    assert dense[:, 1].tolist() == [3.0, 4.0, 12.0, 13.0, 21.0, 22.0]


def test_dense_weight_is_kept_without_autograd_until_the_weight_changes():
    torch.manual_seed(0)
    conv = nn.Conv3d(4, 3, 3, padding=1)
    with torch.no_grad():
        first = dense_weight(conv, 2, 2)
        assert dense_weight(conv, 2, 2) is first  # kept between evaluation chunks
        assert torch.equal(first, dense_spatial_weight(conv.weight, 2, 2))
        assert torch.equal(dense_weight(conv, 1, 2), dense_spatial_weight(conv.weight, 1, 2))
        conv.weight.mul_(2.0)  # an optimiser step or load_state_dict writes in place
        assert torch.equal(dense_weight(conv, 2, 2), dense_spatial_weight(conv.weight, 2, 2))
    conv.load_state_dict({"weight": torch.ones_like(conv.weight), "bias": conv.bias.detach()})
    with torch.no_grad():
        assert torch.equal(dense_weight(conv, 2, 2), dense_spatial_weight(conv.weight, 2, 2))
    assert dense_weight(conv, 2, 2).requires_grad  # with autograd: built from the weight


@pytest.mark.parametrize("kernel", [(1, 2, 2), (2, 2, 2), (2, 3, 2)])
@pytest.mark.parametrize("thw", [(8, 4, 4), (5, 3, 5), (3, 2, 7), (1, 1, 2)])
def test_max_pool_floor_without_autograd_matches_max_pool3d(kernel, thw):
    x = torch.randn(2, 3, *thw)
    clipped = tuple(min(k, s) for k, s in zip(kernel, thw))
    want = F.max_pool3d(x, clipped)
    assert torch.equal(max_pool_floor(x, kernel), want)
    last = _last(x).contiguous()  # a channels-last view, as the offset net pools it
    assert torch.equal(max_pool_floor(last.permute(0, 4, 1, 2, 3), kernel), want)


@pytest.mark.parametrize("hw", [(4, 4), (3, 5), (1, 2), (2, 1)])
def test_max_pool_hw_matches_floor_max_pool(hw):
    x = torch.randn(3, 7, 2, *hw, requires_grad=True)
    kernel = (1, min(2, hw[0]), min(2, hw[1]))
    want = _last(F.max_pool3d(x, kernel))
    got = max_pool_hw(_last(x))
    assert torch.equal(got, want)
    with torch.no_grad():  # evaluation: pooled one axis at a time on strided views
        assert torch.equal(max_pool_hw(_last(x)), want)
    (gw,) = torch.autograd.grad(want.sum(), x)
    (gg,) = torch.autograd.grad(got.sum(), x)
    assert torch.equal(gg, gw)


@pytest.mark.parametrize("train", [False, True])
def test_batch_norm_last_matches_the_module_and_overwrites_only_in_evaluation(train):
    torch.manual_seed(0)
    bn, ref = nn.BatchNorm3d(4), nn.BatchNorm3d(4)
    for m in (bn, ref):
        m.running_mean.copy_(torch.arange(4.0))
        m.running_var.copy_(torch.arange(1.0, 5.0))
        m.train(train)
    bias = torch.randn(4)
    x = torch.randn(2, 4, 3, 2, 2)
    want = _last(ref(x + bias.view(1, -1, 1, 1, 1)))
    inp = _last(x).contiguous()
    with torch.no_grad():
        got = batch_norm_last(bn, inp, bias, overwrite=True)
    torch.testing.assert_close(got, want)
    assert (got.data_ptr() == inp.data_ptr()) is not train
    torch.testing.assert_close(bn.running_mean, ref.running_mean)


@pytest.mark.parametrize("signs", ["positive", "mixed"])
def test_batch_norm_pool_pools_first_only_where_it_gives_the_same_bits(signs):
    torch.manual_seed(0)
    bn = nn.BatchNorm3d(8).eval()
    bn.running_mean.normal_()
    bn.running_var.uniform_(0.5, 2.0)
    with torch.no_grad():
        bn.weight.uniform_(0.1, 2.0)
        if signs == "mixed":
            bn.weight[::2] *= -1
    bias, x = torch.randn(8), torch.randn(3, 4, 4, 4, 8)
    with torch.no_grad():
        want = max_pool_hw(batch_norm_last(bn, x.clone(), bias, overwrite=True))
        got = batch_norm_pool(bn, x.clone(), bias, overwrite=True)
    assert torch.equal(got, want)
