"""The offset net's small-map convolution as one matrix product equals ``F.conv3d``."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fsar_bench.methods.ta2n_conv import conv3d_same, dense_spatial_weight


@pytest.mark.parametrize("hw", [(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)])
def test_conv3d_same_matches_conv3d_with_gradients(hw):
    torch.manual_seed(0)
    conv = nn.Conv3d(6, 5, 3, padding=1).double()
    x = torch.randn(4, 6, 3, *hw, dtype=torch.float64, requires_grad=True)
    want = conv(x)
    gx, gw, gb = torch.autograd.grad(want.square().sum(), (x, conv.weight, conv.bias))
    got = conv3d_same(conv, x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for g, h in zip(
        (gx, gw, gb), torch.autograd.grad(got.square().sum(), (x, conv.weight, conv.bias))
    ):
        torch.testing.assert_close(h, g, rtol=0, atol=1e-11)


def test_dense_weight_reads_only_taps_inside_the_padding():
    weight = torch.arange(27.0).view(1, 1, 3, 3, 3)
    dense = dense_spatial_weight(weight, 1, 2)  # rows (dt, p_in), columns p_out; p = (0, col)
    # output column 0 reads input column 0 through tap (1, 1) and input column 1 through (1, 2)
    assert dense[:, 0].tolist() == [4.0, 5.0, 13.0, 14.0, 22.0, 23.0]
    assert dense[:, 1].tolist() == [3.0, 4.0, 12.0, 13.0, 21.0, 22.0]
