"""Temporal shift (Lin, Gan and Han, TSM, ICCV 2019).

Features of ``N`` videos with ``T`` frames each are laid out frame-major per video,
``[N * T, C, H, W]``. With ``fold = C // fold_div``:

* channels ``[0, fold)`` at frame ``t`` take frame ``t + 1``'s values ("shift left" in time);
* channels ``[fold, 2 * fold)`` at frame ``t`` take frame ``t - 1``'s values ("shift right");
* channels ``[2 * fold, C)`` stay; positions shifted in from outside the clip are zeros.

This is the channel convention and zero padding of the authors' ``ops/temporal_shift.py``
(mit-han-lab/temporal-shift-module, non-in-place branch). Their optional in-place variant (a
memory optimisation with a custom backward) is not provided; the result is identical.

:class:`TemporalShift` wraps a layer and shifts its input, so wrapping the first convolution of
a residual branch gives TSM's "residual shift" (``place='blockres'``): the identity path sees
the unshifted features.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def temporal_shift(x: Tensor, n_segment: int, fold_div: int = 8) -> Tensor:
    """Shift ``1 / fold_div`` of the channels one frame back and as many one frame forward.

    Args:
        x: ``[N * T, C, H, W]`` features, the ``T = n_segment`` frames of each video adjacent.
        n_segment: ``T``, frames per video.
        fold_div: ``C // fold_div`` channels move in each direction (TSM: 8).

    Returns:
        ``[N * T, C, H, W]``, a new tensor (differentiable; the input is not modified).
    """
    if x.dim() != 4:
        raise ValueError(f"expected [N*T, C, H, W], got shape {tuple(x.shape)}")
    nt, c, h, w = x.shape
    if n_segment < 1 or nt % n_segment:
        raise ValueError(f"{nt} frames do not split into videos of n_segment={n_segment}")
    fold = c // fold_div
    v = x.reshape(nt // n_segment, n_segment, c, h, w)  # [N, T, C, H, W]
    pad = v.new_zeros(v.shape[0], 1, fold, h, w)  # [N, 1, fold, H, W]
    from_next = torch.cat([v[:, 1:, :fold], pad], dim=1)  # frame t <- t + 1, zeros at t = T-1
    from_prev = torch.cat([pad, v[:, :-1, fold : 2 * fold]], dim=1)  # t <- t - 1, zeros at t = 0
    out = torch.cat([from_next, from_prev, v[:, :, 2 * fold :]], dim=2)  # [N, T, C, H, W]
    return out.view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Apply :func:`temporal_shift` to the input, then the wrapped layer.

    The wrapped layer is stored as ``net`` (as in the authors' code, so state-dict keys such as
    ``layer1.0.conv1.net.weight`` match TSM checkpoints).

    Args:
        net: the layer to feed, e.g. a bottleneck's ``conv1``.
        n_segment: ``T``, frames per video.
        fold_div: see :func:`temporal_shift`.
    """

    def __init__(self, net: nn.Module, n_segment: int, fold_div: int = 8) -> None:
        super().__init__()
        self.net = net
        self.n_segment = n_segment
        self.fold_div = fold_div

    def forward(self, x: Tensor) -> Tensor:
        """``[N * T, C, H, W]`` -> ``net(shifted x)``."""
        return self.net(temporal_shift(x, self.n_segment, self.fold_div))

    def extra_repr(self) -> str:
        return f"n_segment={self.n_segment}, fold_div={self.fold_div}"
