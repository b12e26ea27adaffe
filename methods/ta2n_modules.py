"""Building blocks of TA2N (Li et al., AAAI 2022): TTM, TC attention, SC offset net and masks.

Layouts: a video map is ``[T, C, H, W]`` (the suite's input layout); convolutions take
``[B, C, T, H, W]``; pooled features are ``[..., T, C]``. See :mod:`fsar_bench.methods.ta2n` for
the method, its ``extras`` and every difference from the official code.

The SC offset net's first convolution is linear in the channel-concatenated pair
``cat[s', q']``, so it splits into a support half and a query half of its weight. With
``q' = Q + r`` where the TC residual ``r[t] = sum_y A[t, y] v[y]`` is constant over ``H, W``:

``conv(cat[s', q']) = conv_s(s') + conv_q(Q) + conv_q(broadcast r) + bias``.

All terms but the residual one are per video. The residual term, with zero padding,
is ``sum_{dh,dw} [0 <= h+dh-1 < H] [0 <= w+dw-1 < W] z[o, t, dh, dw]`` where
``z[o, t, dh, dw] = sum_{dt, y} A[t+dt-1, y] U[o, dh, dw, dt, y]`` (``A`` zero outside ``0..T-1``)
and ``U[o, dh, dw, dt, y] = sum_c w_q[o, c, dt, dh, dw] v[y, c]`` is per query video
(:meth:`OffsetNet.broadcast_basis`, with the sum over ``dh, dw`` folded in); only the small
``T x 3T`` mixing is per pair (:meth:`OffsetNet.add_broadcast_response_`). Per-pair tensors of the
offset net are channels-last ``[B, T, H, W, 128]`` (:mod:`fsar_bench.methods.ta2n_conv`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fsar_bench.methods.ta2n_conv import batch_norm_pool, conv3d_last, max_pool_floor

#: The nine SC jitter directions ``(x, y)``: none and the 8 neighbours (official order).
JITTER_DIRECTIONS = ((0, 0), (0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1))


class LocalisationNet(nn.Module):
    """TTM localisation net: ``[V, C, T, H, W] -> (a, b) [V, 2]``, both in ``(-1, 1)``.

    Conv3d(C,64,3,p1)-BN-MaxPool(2)-ReLU, Conv3d(64,128,3,p1)-BN-MaxPool(2)-ReLU, global max,
    Linear(128,32)-ReLU-Linear(32,2)-Tanh; the last Linear starts at zero weight and bias
    ``(2, 0)``, so ``(a, b) = (tanh 2, 0)`` for every input at initialisation.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(channels, 64, 3, padding=1)
        self.bn1 = nn.BatchNorm3d(64)
        self.conv2 = nn.Conv3d(64, 128, 3, padding=1)
        self.bn2 = nn.BatchNorm3d(128)
        self.fc1 = nn.Linear(128, 32)
        self.fc2 = nn.Linear(32, 2)
        with torch.no_grad():
            self.fc2.weight.zero_()
            self.fc2.bias.copy_(torch.tensor([2.0, 0.0]))

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(max_pool_floor(self.bn1(self.conv1(x)), (2, 2, 2)))
        x = F.relu(max_pool_floor(self.bn2(self.conv2(x)), (2, 2, 2)))
        x = x.amax(dim=(2, 3, 4))  # AdaptiveMaxPool3d(1) + Flatten: [V, 128]
        return torch.tanh(self.fc2(F.relu(self.fc1(x))))


def temporal_warp(x: Tensor, ab: Tensor) -> Tensor:
    """TTM affine warp: output frame ``i`` samples source time ``a * t_i + b``.

    ``t_i = linspace(-1, 1, T)``; linear interpolation by ``F.grid_sample`` with
    ``align_corners=True`` and zero padding, no clamping.

    Args:
        x: ``[V, T, F]`` per-frame features (``F = C * H * W``).
        ab: ``[V, 2]`` warp parameters ``(a, b)``.

    Returns:
        ``[V, T, F]`` warped features.
    """
    t = x.shape[1]
    base = torch.linspace(-1.0, 1.0, t, device=x.device, dtype=x.dtype)
    src = ab[:, :1] * base + ab[:, 1:]  # [V, T] source times in [-1, 1] coordinates
    grid = torch.stack([src, torch.full_like(src, -1.0)], dim=-1).unsqueeze(1)  # [V, 1, T, 2]
    out = F.grid_sample(
        x.transpose(1, 2).unsqueeze(2), grid, mode="bilinear", align_corners=True
    )  # [V, F, 1, T]
    return out.squeeze(2).transpose(1, 2)


def frame_attention(keys: Tensor, queries: Tensor, dim: int) -> Tensor:
    """Scaled dot-product attention between two frame sequences.

    Args:
        keys: ``[..., X, C]``; queries: ``[..., Y, C]`` (broadcastable batch dims).
        dim: ``-1`` normalises over ``Y`` (TC: per support frame, a distribution over query
            frames), ``-2`` over ``X`` (k-shot: per reference frame, over the shot's frames).

    Returns:
        ``[..., X, Y]`` attention weights ``softmax(k . q / sqrt(C))``.
    """
    logits = torch.einsum("...xc,...yc->...xy", keys, queries) / keys.shape[-1] ** 0.5
    return logits.softmax(dim=dim)


class OffsetNet(nn.Module):
    """SC offset predictor on the pair ``cat[s', q'] [B, 2C, T, H, W]`` -> offsets ``[B, T, 2]``.

    Conv3d(2C,128,3,p1)-BN-MaxPool(1,2,2)-ReLU, Conv3d(128,128,3,p1)-BN-MaxPool(1,2,2)-ReLU,
    max over ``H, W``, Conv1d(128,64,1)-ReLU-Conv1d(64,2,1)-Tanh (last conv zero-initialised),
    times ``scale``. Offsets are ``(x, y)`` per frame in ``[-1, 1]`` map coordinates.
    """

    def __init__(self, channels: int, scale: float = 0.75) -> None:
        super().__init__()
        self.channels = channels
        self.scale = scale
        self.conv1 = nn.Conv3d(2 * channels, 128, 3, padding=1)
        self.bn1 = nn.BatchNorm3d(128)
        self.conv2 = nn.Conv3d(128, 128, 3, padding=1)
        self.bn2 = nn.BatchNorm3d(128)
        self.fc1 = nn.Conv1d(128, 64, 1)
        self.fc2 = nn.Conv1d(64, 2, 1)
        with torch.no_grad():
            self.fc2.weight.zero_()
            self.fc2.bias.zero_()

    def _half(self, half: int) -> Tensor:
        c = self.channels
        return self.conv1.weight[:, half * c : (half + 1) * c]  # [128, C, 3, 3, 3]

    def half_conv(self, x: Tensor, half: int) -> Tensor:
        """First conv restricted to the support (``half=0``) or query (``1``) channels, no bias.

        Args:
            x: ``[B, C, T, H, W]``. Returns ``[B, T, H, W, 128]`` (channels last, as every
            per-pair tensor of the offset net).
        """
        return F.conv3d(x, self._half(half), padding=1).permute(0, 2, 3, 4, 1).contiguous()

    def broadcast_basis(self, v: Tensor, h: int, w: int) -> Tensor:
        """Per-query-video basis of the broadcast residual: ``v [B, T, C] -> [B, 3T, H*W*128]``.

        Row ``dt * T + y``, column ``p * 128 + o`` (map position ``p = (h, w)``) holds
        ``sum_{dh, dw} [tap (dh, dw) reads inside the map at p] sum_c w_q[o, c, dt, dh, dw]
        v[y, c]``: the module docstring's ``U`` with the zero padding applied.
        """
        b, t, c = v.shape
        wq = self._half(1).permute(1, 3, 4, 0, 2).reshape(c, -1)  # [C, (dh, dw, o, dt)]
        u = (v @ wq).reshape(b, t, 9, -1, 3)  # [B, y, tap, o, dt]
        u = torch.einsum("bykod,kp->bdypo", u, self._border(h, w, v))  # [B, dt, y, HW, o]
        return u.reshape(b, 3 * t, -1)

    def add_broadcast_response_(self, h1: Tensor, attn: Tensor, basis: Tensor) -> Tensor:
        """Add ``conv_q(broadcast r)`` of every pair, exactly, with ``r = attn @ v``, to ``h1``.

        Args:
            h1: ``[E, Q, N, T, H, W, 128]`` (contiguous), updated in place and returned.
            attn: ``[E, Q, N, T, T]`` TC attention (support frame ``x``, query frame ``y``).
            basis: ``[E, Q, 3T, H*W*128]`` from :meth:`broadcast_basis` of the query's ``v``.
        """
        e, q, n, t, _ = attn.shape
        padded = F.pad(attn, (0, 0, 1, 1))  # x axis padded: row x + 1 holds A[x]
        shifted = torch.stack([padded[..., d : d + t, :] for d in range(3)], dim=-2)
        rows = h1.view(e * q, n * t, -1)  # one GEMM per (episode, query) adds into h1
        rows.baddbmm_(shifted.reshape(e * q, n * t, 3 * t), basis.reshape(e * q, 3 * t, -1))
        return h1

    @staticmethod
    def _border(h: int, w: int, like: Tensor) -> Tensor:
        """``[9, H*W]``: 1 where kernel tap ``(dh, dw)`` reads inside the map at ``(h, w)``."""

        def valid(size: int) -> Tensor:  # [size, 3]
            pos = (
                torch.arange(size, device=like.device)[:, None]
                + torch.arange(3, device=like.device)
                - 1
            )
            return ((pos >= 0) & (pos < size)).to(like.dtype)

        vh, vw = valid(h), valid(w)
        return torch.einsum("ha,wb->abhw", vh, vw).reshape(9, h * w)

    def tail(self, h1: Tensor, overwrite: bool = False) -> Tensor:
        """Everything after the first conv's output (bias not yet added): ``[B, T, H, W, 128]``.

        ``overwrite``: ``h1`` may be overwritten (evaluation without autograd then adds the bias
        and applies ``bn1`` in place, :func:`~fsar_bench.methods.ta2n_conv.batch_norm_pool`).

        Returns:
            ``[B, T, 2]`` offsets ``(x, y)``, ``scale * tanh(...)``.
        """
        x = F.relu(batch_norm_pool(self.bn1, h1, self.conv1.bias, overwrite))
        x = batch_norm_pool(self.bn2, conv3d_last(self.conv2, x), None, overwrite=True)
        x = F.relu(x.amax((-3, -2)))  # AdaptiveMaxPool3d((None, 1, 1)): [B, T, 128]
        x = F.relu(F.linear(x, self.fc1.weight[..., 0], self.fc1.bias))  # Conv1d(k=1)
        return self.scale * torch.tanh(F.linear(x, self.fc2.weight[..., 0], self.fc2.bias))

    def forward(self, pairs: Tensor) -> Tensor:
        """Naive reference: ``[B, 2C, T, H, W]`` (support channels first) -> ``[B, T, 2]``."""
        return self.tail(F.conv3d(pairs, self.conv1.weight, padding=1).permute(0, 2, 3, 4, 1))


def axis_mask(offset: Tensor, size: int) -> Tensor:
    """Official SC mask along one axis: ``[...] -> [..., size]``.

    On the grid ``g_i = linspace(-1, 1, size)[i] + offset``: 1 where ``|g| < 1``, else
    ``max(0, 1 - (|g| - 1) * (size - 1) / 2)`` (linear fall-off over one cell).
    """
    g = (
        torch.linspace(-1.0, 1.0, size, device=offset.device, dtype=offset.dtype)
        + offset[..., None]
    )
    inside = (g > -1) & (g < 1)
    fall = (1 - (g.abs() - 1) * ((size - 1) / 2)).clamp(min=0)
    return torch.where(inside, torch.ones_like(g), fall)


def axis_grid(offset: Tensor, size: int) -> Tensor:
    """``grid`` SC design along one axis: mean bilinear weights, ``[...] -> [..., size]``.

    The samples span the overlap window ``[max(-1, -1 - o), min(1, 1 - o)]`` (the cells the
    ``mask`` design keeps) evenly; each sample's weights are ``grid_sample``'s bilinear
    (``align_corners=True``) hat functions. Pooling with these weights equals resampling the map
    on that grid and averaging the samples.
    """
    lo = (-1 - offset).clamp(min=-1)
    hi = (1 - offset).clamp(max=1)
    steps = torch.linspace(0.0, 1.0, size, device=offset.device, dtype=offset.dtype)
    pos = lo[..., None] + (hi - lo)[..., None] * steps  # [..., size] sample positions
    pix = (pos + 1) * ((size - 1) / 2)
    cells = torch.arange(size, device=offset.device, dtype=offset.dtype)
    return (1 - (pix[..., :, None] - cells).abs()).clamp(min=0).mean(-2)


def pooling_weights(jittered: Tensor, h: int, w: int, design: str) -> Tensor:
    """Spatial pooling weights from jittered offsets: ``[..., J, 2] -> [..., H, W]``.

    Each jitter's weight map is the outer product of the ``y`` (rows) and ``x`` (columns) axis
    weights, normalised to sum 1; the ``J`` maps are averaged.
    """
    axis = axis_mask if design == "mask" else axis_grid
    wx = axis(jittered[..., 0], w)
    wy = axis(jittered[..., 1], h)
    wx = wx / wx.sum(-1, keepdim=True)
    wy = wy / wy.sum(-1, keepdim=True)
    return (wy[..., :, None] * wx[..., None, :]).mean(-3)


def pool_support(weights: Tensor, maps: Tensor) -> Tensor:
    """Pool support maps ``[E, N, T, C, H, W]`` with pair weights ``[E, Q, N, T, H, W]``.

    Returns ``[E, Q, N, T, C]``; a batched matmul over ``(E, N, T)``, no copy of the maps.
    """
    w = weights.flatten(-2).permute(0, 2, 3, 4, 1)  # [E, N, T, HW, Q]
    return (maps.flatten(-2) @ w).permute(0, 4, 1, 2, 3)


def pool_query(weights: Tensor, maps: Tensor) -> Tensor:
    """Pool query maps ``[E, Q, T, C, H, W]`` with pair weights ``[E, Q, N, T, H, W]``.

    Returns ``[E, Q, N, T, C]``; a batched matmul over ``(E, Q, T)``, no copy of the maps.
    """
    w = weights.flatten(-2).permute(0, 1, 3, 4, 2)  # [E, Q, T, HW, N]
    return (maps.flatten(-2) @ w).permute(0, 1, 4, 2, 3)


def enumerate_shifts(s_map: Tensor, s_res, q_map: Tensor, r) -> tuple[Tensor, Tensor]:
    """``enumerate`` SC design: per frame, the integer shift with the smallest cosine distance.

    For a shift ``(dx, dy)`` support cells ``(h, w)`` pair with query cells ``(h + dy, w + dx)``;
    each side is averaged over its overlap box (hard edges, no offset net).

    Args:
        s_map: ``[E, N, T, C, H, W]``; s_res: ``[E, 1, N, T, C]`` TC support term (or 0).
        q_map: ``[E, Q, T, C, H, W]``; r: ``[E, Q, N, T, C]`` TC query residual (or 0).

    Returns:
        Distances ``[E, Q, N]`` (sum over frames of the per-frame minimum) and the chosen
        shifts ``[E, Q, N, T, 2]`` as ``(x, y)`` in ``[-1, 1]`` map coordinates.
    """
    h, w = s_map.shape[-2:]
    dists, shifts = [], []
    for dy in range(1 - h, h):
        for dx in range(1 - w, w):
            s_box = s_map[..., max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            q_box = q_map[..., max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
            s_vec = s_box.mean((-2, -1))[:, None] + s_res
            q_vec = q_box.mean((-2, -1))[:, :, None] + r
            cos = (F.normalize(s_vec, dim=-1) * F.normalize(q_vec, dim=-1)).sum(-1)
            dists.append(1 - cos)  # [E, Q, N, T]
            shifts.append((dx * 2 / max(w - 1, 1), dy * 2 / max(h - 1, 1)))
    best, index = torch.stack(dists).min(0)
    return best.sum(-1), torch.tensor(shifts, device=best.device)[index]
