"""TA2N's convolution helpers for the SC offset net's per-pair tensors, which are channels-last
``[B, T, H, W, C]``: a ``3x3x3`` convolution (padding 1) on tiny maps as one matrix product,
batch norm (in place in evaluation), a max-pool over ``H, W``; and the floor-mode max-pool of
the TTM net.

Why channels-last: every per-pair step then reads contiguous channel vectors (the ``2 x 2``
max-pool, the per-channel batch-norm affine) and the dense convolution below needs no copy to
gather a position's channels. Why a dense product: the offset net's second convolution runs on
every (query, class) pair's ``[T, H, W, 128]`` map after a ``(1, 2, 2)`` max-pool, ``2 x 2`` for
the 4x4 maps of EfficientNet-Lite0 at 112 px. With padding 1 on such a map, 5 of each output's 9
spatial taps read zero padding, and a general convolution multiplies those zeros too. On maps of
at most ``2 x 2`` every (input, output) position pair is within one tap, so the spatial part of
the kernel is a dense matrix and the convolution is ``[B*T, 3 * H*W * C] @ [3 * H*W * C, H*W *
O]``: one GEMM over the three temporal taps. Same map, same autograd, about half the work and
faster on a CPU, forward and backward (``benchmarks/bench_ta2n.py``). Larger maps keep
``F.conv3d`` (slower as a dense product at ``3 x 3``). Timings: ``docs/performance.md``.
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Largest map side computed as one dense product.
DENSE_MAX_SIDE = 2


def dense_spatial_weight(weight: Tensor, h: int, w: int) -> Tensor:
    """``[O, C, 3, 3, 3]`` kernel -> ``[3 * H*W * C, H*W * O]`` matrix for an ``H x W`` map.

    Row ``(dt, p_in, c)``, column ``(p_out, o)`` holds ``weight[o, c, dt, dh, dw]`` with
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
    return dense.permute(2, 3, 1, 4, 0).reshape(3 * h * w * c, h * w * o)


def conv3d_last(conv: nn.Conv3d, x: Tensor) -> Tensor:
    """``conv`` (``3x3x3``, padding 1, stride 1) on channels-last ``x [B, T, H, W, C]``.

    Returns ``[B, T, H, W, O]``. Maps of side at most :data:`DENSE_MAX_SIDE`: the dense product
    (module docstring); larger ones: ``conv`` on the channels-first view.
    """
    b, t, h, w, c = x.shape
    if h > DENSE_MAX_SIDE or w > DENSE_MAX_SIDE:
        return conv(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)
    rows = x.reshape(b, t, h * w * c)
    taps = x.new_empty(b, t, 3, h * w * c)  # frames t-1, t, t+1 (zero outside 0..T-1)
    taps[:, :1, 0], taps[:, -1:, 2] = 0, 0
    taps[:, 1:, 0], taps[:, :, 1], taps[:, :-1, 2] = rows[:, :-1], rows, rows[:, 1:]
    bias = conv.bias.repeat(h * w)  # column (p, o)
    out = torch.addmm(bias, taps.view(b * t, -1), dense_weight(conv, h, w))
    return out.view(b, t, h, w, -1)


# conv -> ((weight version, storage, device, dtype, H, W), dense matrix)
_DENSE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def dense_weight(conv: nn.Conv3d, h: int, w: int) -> Tensor:
    """:func:`dense_spatial_weight` of ``conv.weight``, kept between calls without autograd.

    Evaluation scores thousands of chunks with the same weights; rebuilding the matrix (a gather
    of the whole kernel) was a visible share of TA2N's ``compare``. The kept matrix is rebuilt when
    the weight changes: an optimiser step or ``load_state_dict`` bumps its version counter.
    With autograd on, the matrix is built from the weight each call, so gradients reach it.
    """
    weight = conv.weight
    if torch.is_grad_enabled():
        return dense_spatial_weight(weight, h, w)
    key = (weight._version, weight.data_ptr(), weight.device, weight.dtype, h, w)
    kept = _DENSE.get(conv)
    if kept is None or kept[0] != key:
        kept = key, dense_spatial_weight(weight, h, w)
        _DENSE[conv] = kept
    return kept[1]


def batch_norm_last(bn: nn.BatchNorm3d, x: Tensor, bias: Tensor | None, overwrite: bool) -> Tensor:
    """``bn(x + bias)`` on channels-last ``x [B, T, H, W, C]`` (``bias [C]`` or ``None``).

    In evaluation without autograd and with ``overwrite``, the result is written into ``x``:
    evaluation-mode batch norm is the per-channel affine map ``a x + b`` with ``a = gamma /
    sqrt(var + eps)`` and ``b = beta - a * mean`` (the bias folds into ``b``), one pass over the
    pairs' largest tensor. Otherwise ``bn`` runs on the channels-first view (training updates
    its running statistics as usual).
    """
    if overwrite and not bn.training and not torch.is_grad_enabled():
        a, shift = _eval_affine(bn, bias)
        return x.mul_(a).add_(shift)
    if bias is not None:
        x = x + bias
    return bn(x.permute(0, 4, 1, 2, 3)).permute(0, 2, 3, 4, 1)


def _eval_affine(bn: nn.BatchNorm3d, bias: Tensor | None) -> tuple[Tensor, Tensor]:
    """``(a, b)`` with ``bn(x + bias) = a x + b`` in evaluation mode, each ``[C]``."""
    a = bn.weight * torch.rsqrt(bn.running_var + bn.eps)
    shift = bn.bias - bn.running_mean * a
    return a, shift if bias is None else shift + bias * a


def batch_norm_pool(bn: nn.BatchNorm3d, x: Tensor, bias: Tensor | None, overwrite: bool) -> Tensor:
    """``max_pool_hw(batch_norm_last(bn, x, bias, overwrite))``, the same numbers.

    In evaluation without autograd, where every channel's scale ``a`` is positive, the affine
    map is increasing (also after rounding), so it commutes with the maximum: the pool runs
    first and the affine map on the 4x smaller result.
    """
    if overwrite and not bn.training and not torch.is_grad_enabled():
        a, shift = _eval_affine(bn, bias)
        if bool((a > 0).all()):
            return max_pool_hw(x).mul_(a).add_(shift)
    return max_pool_hw(batch_norm_last(bn, x, bias, overwrite))


def max_pool_hw(x: Tensor) -> Tensor:
    """``MaxPool3d((1, 2, 2))`` (floor mode) on channels-last ``[B, T, H, W, C]``.

    :func:`max_pool_floor` on the channels-first view: its strided views then read contiguous
    channel vectors, and the result keeps the channels-last layout.
    """
    return max_pool_floor(x.permute(0, 4, 1, 2, 3), (1, 2, 2)).permute(0, 2, 3, 4, 1)


def max_pool_floor(x: Tensor, kernel: tuple[int, int, int]) -> Tensor:
    """``MaxPool3d(kernel)`` (floor mode) on ``[B, C, T, H, W]``; kernels clipped to the axis size.

    Identical to ``nn.MaxPool3d(kernel)`` whenever every axis is at least its kernel; an axis
    shorter than its kernel (where the official net would fail) is pooled over its full length.
    Without autograd the same maxima come from ``torch.maximum`` of strided views, one axis at a
    time (``max_pool3d`` also computes argmax indices on the CPU; pooling axis by axis writes each
    intermediate once and shrinks it; timings: ``docs/performance.md``).
    """
    k = tuple(min(k, s) for k, s in zip(kernel, x.shape[-3:]))
    if x.requires_grad and torch.is_grad_enabled():
        return F.max_pool3d(x, k)
    for dim, size in zip((-1, -2, -3), reversed(k)):
        x = _max_windows(x, dim, size)
    return x


def _max_windows(x: Tensor, dim: int, k: int) -> Tensor:
    """Maximum over consecutive windows of ``k`` along ``dim`` (negative), the rest cropped."""
    if k == 1:
        return x
    windows = x.narrow(dim, 0, x.shape[dim] // k * k).unflatten(dim, (-1, k))
    out = torch.maximum(windows.select(dim, 0), windows.select(dim, 1))
    for i in range(2, k):
        out = torch.maximum(out, windows.select(dim, i))
    return out
