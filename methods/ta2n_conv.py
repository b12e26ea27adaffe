"""TA2N's convolution helpers: a ``3x3x3`` convolution (padding 1) on tiny maps as one matrix
product (the SC offset net), evaluation-mode batch norm in place, and a floor-mode max-pool.

The offset net's second convolution runs on every (query, class) pair's ``[128, T, H, W]`` map
after a ``(1, 2, 2)`` max-pool: ``2 x 2`` for the 4x4 maps of EfficientNet-Lite0 at 112 px. With
padding 1 on such a map, 5 of each output's 9 spatial taps read zero padding, and a general
convolution multiplies those zeros too. On maps of at most ``2 x 2`` every (input, output)
position pair is within one tap, so the spatial part of the kernel is a dense matrix and the
whole convolution is ``[B*T, 3 * C * H*W] @ [3 * C * H*W, O * H*W]``: one GEMM over the three
temporal taps of the channel-and-position vectors. Same map, same autograd, about half the
work and twice as fast on a CPU (forward and backward; measured in ``benchmarks/bench_ta2n.py``).
Larger maps keep ``F.conv3d`` (measured slower as a dense product at ``3 x 3``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Largest map side (after the pool) computed as one dense product.
DENSE_MAX_SIDE = 2


def dense_spatial_weight(weight: Tensor, h: int, w: int) -> Tensor:
    """``[O, C, 3, 3, 3]`` kernel -> ``[3 * C * H*W, O * H*W]`` matrix for an ``H x W`` map.

    Row ``(dt, c, p_in)``, column ``(o, p_out)`` holds ``weight[o, c, dt, dh, dw]`` with
    ``(dh, dw) = p_in - p_out + 1`` when both are in ``0..2`` (padding 1), else 0.
    """
    o, c = weight.shape[:2]
    grid = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    pos = torch.stack(grid, -1).reshape(-1, 2).to(weight.device)  # [P, 2] (row, column)
    tap = pos[:, None] - pos[None] + 1  # [P_in, P_out, 2]
    inside = ((tap >= 0) & (tap <= 2)).all(-1)
    index = torch.where(inside, tap[..., 0] * 3 + tap[..., 1], 9)  # 9: the zero tap
    taps = torch.cat([weight.flatten(3), weight.new_zeros(o, c, 3, 1)], -1)  # [O, C, 3, 10]
    dense = taps[..., index]  # [O, C, 3, P_in, P_out]
    return dense.permute(2, 1, 3, 0, 4).reshape(3 * c * h * w, o * h * w)


def conv3d_same(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """``conv(x)`` for a ``3x3x3``, padding-1, stride-1 ``conv`` on ``x [B, C, T, H, W]``.

    Maps of side at most :data:`DENSE_MAX_SIDE` use the dense product (module docstring);
    returns ``[B, O, T, H, W]`` (a transposed view in that case).
    """
    b, c, t, h, w = x.shape
    if h > DENSE_MAX_SIDE or w > DENSE_MAX_SIDE:
        return conv(x)
    rows = F.pad(x.permute(0, 2, 1, 3, 4).reshape(b, t, c * h * w), (0, 0, 1, 1))
    taps = torch.cat([rows[:, d : d + t] for d in range(3)], -1)  # [B, T, 3 * C * H*W]
    matrix = dense_spatial_weight(conv.weight, h, w)
    bias = conv.bias.repeat_interleave(h * w)  # column (o, p)
    out = torch.addmm(bias, taps.flatten(0, 1), matrix)  # [B*T, O * H*W]
    return out.view(b, t, -1, h, w).transpose(1, 2)


def eval_affine_(x: Tensor, bias: Tensor, bn: nn.BatchNorm3d) -> Tensor:
    """``bn(x + bias)`` in evaluation mode, written into ``x [B, C, T, H, W]`` (returned).

    Evaluation-mode batch norm is the per-channel affine map ``y = a x + b`` with ``a = gamma /
    sqrt(var + eps)`` and ``b = beta - a * mean``; the conv bias folds into ``b``. One pass over
    the pairs' largest tensor instead of two allocations.
    """
    a = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    b = bn.bias + (bias - bn.running_mean) * a
    shape = (1, -1, 1, 1, 1)
    return x.mul_(a.view(shape)).add_(b.view(shape))


def max_pool_floor(x: Tensor, kernel: tuple[int, int, int]) -> Tensor:
    """``MaxPool3d(kernel)`` (floor mode) on ``[B, C, T, H, W]``; kernels clipped to the axis size.

    Identical to ``nn.MaxPool3d(kernel)`` whenever every axis is at least its kernel; an axis
    shorter than its kernel (where the official net would fail) is pooled over its full length.
    Without autograd the same maxima come from ``torch.maximum`` over the kernel's strided views
    (``max_pool3d`` also computes argmax indices on the CPU: about 5x slower).
    """
    k = tuple(min(k, s) for k, s in zip(kernel, x.shape[-3:]))
    if x.requires_grad and torch.is_grad_enabled():
        return F.max_pool3d(x, k)
    n = [s // j * j for s, j in zip(x.shape[-3:], k)]  # each axis cropped to whole windows
    out = x[..., : n[0] : k[0], : n[1] : k[1], : n[2] : k[2]]
    for a, b, c in [(a, b, c) for a in range(k[0]) for b in range(k[1]) for c in range(k[2])][1:]:
        out = torch.maximum(out, x[..., a : n[0] : k[0], b : n[1] : k[1], c : n[2] : k[2]])
    return out
