"""TA2N's spatial-coordination (SC) stage on embedded states (mixed into :class:`TA2N`).

Split from :mod:`fsar_bench.methods.ta2n` for size; the maths is documented there and in
:mod:`fsar_bench.methods.ta2n_modules`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fsar_bench.methods.base import VideoState
from fsar_bench.methods.ta2n_modules import pooling_weights


def broadcast_hw(x: Tensor) -> Tensor:
    """``[..., T, C]`` -> ``[..., T, C, 1, 1]`` (constant over ``H, W``)."""
    return x[..., None, None]


class SCStage:
    """SC helpers; the host sets ``config``, ``offset_net`` and the ``jitter`` buffer."""

    def sc_halves(
        self, maps: Tensor, value: Tensor | None, support: bool, query: bool
    ) -> VideoState:
        """The offset net's first-conv halves of maps ``[*B, T, C, H, W]`` (any leading dims).

        ``support``: ``conv_s``, the support half on ``maps + W_v p`` (``value [*B, T, C]``,
        ``None`` without TC). ``query``: ``conv_q`` on ``maps`` and, with ``value``, the
        broadcast basis ``basis_q [*B, 3T, H*W*128]``. Halves are ``[*B, T, H, W, 128]``
        (channels last, no bias).
        """
        lead, hw = maps.shape[:-4], maps.shape[-2:]
        x = maps.reshape(-1, *maps.shape[-4:])  # [B, T, C, H, W]
        v = value.reshape(-1, *value.shape[-2:]) if value is not None else None
        out = {}
        if support:
            shifted = x + broadcast_hw(v) if v is not None else x
            out["conv_s"] = self.offset_net.half_conv(shifted.transpose(1, 2), 0)
        if query:
            out["conv_q"] = self.offset_net.half_conv(x.transpose(1, 2), 1)
            if v is not None:
                out["basis_q"] = self.offset_net.broadcast_basis(v, *hw)
        return {k: t.unflatten(0, lead) for k, t in out.items()}

    def complete_halves(self, sup: VideoState, qry: VideoState) -> None:
        """Add the first-conv halves that ``embed`` leaves out in training mode, in place.

        A training video serves one episode, so ``conv_s`` is computed on each pair's support
        side as ``compare`` forms it (a support map ``[E, N, T, C, H, W]``, or the mean of a
        class's shots: the conv is linear, so this is the mean of the shots' halves), and
        ``conv_q [E, Q, T, H, W, 128]`` / ``basis_q`` only on the queries. In evaluation
        ``embed`` computes both halves per video, once for all the episodes that use it.
        """
        if "conv_s" not in sup:
            sup.update(self.sc_halves(sup["map"], sup.get("value"), support=True, query=False))
        if "conv_q" not in qry:
            qry.update(self.sc_halves(qry["map"], qry.get("value"), support=False, query=True))

    def _offsets(self, sup: VideoState, qry: VideoState, attn: Tensor | None) -> Tensor:
        """Decomposed first conv, then the rest of the offset net: ``[E, Q, N, T, 2]``."""
        h1 = sup["conv_s"][:, None] + qry["conv_q"][:, :, None]  # [E, Q, N, T, H, W, 128]
        if attn is not None:
            self.offset_net.add_broadcast_response_(h1, attn, qry["basis_q"])
        return self.offset_net.tail(h1.flatten(0, 2), overwrite=True).unflatten(0, h1.shape[:3])

    def _weights(self, offsets: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Support (``+offset``) and query (``-offset``) pooling weights ``[E, Q, N, T, H, W]``.

        Both designs' axis weights are odd-symmetric (``w(-o)[i] = w(o)[size - 1 - i]``, as the
        grid ``linspace(-1, 1)`` is), so the query's weights are the support's flipped over
        ``H`` and ``W`` (equal up to float rounding; tested).
        """
        jitter = self.jitter if self.training or self.config.jitter_at_test else self.jitter[:1]
        jittered = offsets[..., None, :] + jitter  # [E, Q, N, T, J, 2]
        support = pooling_weights(jittered, *hw, self.config.sc_design)
        return support, support.flip(-2, -1)

    def _sc_naive(self, s_map, s_res, q_map, r, extras) -> tuple[Tensor, Tensor]:
        """Reference SC: build every pair's ``[2C, T, H, W]`` maps and pool them directly."""
        e, q, n = q_map.shape[0], q_map.shape[1], s_map.shape[1]
        s_full = (s_map[:, None] + broadcast_hw(s_res)).expand(e, q, n, *s_map.shape[2:])
        q_full = q_map[:, :, None] + broadcast_hw(r)  # [E, Q, N, T, C, H, W]
        q_full = q_full.expand_as(s_full)
        pairs = torch.cat([s_full, q_full], dim=-3).flatten(0, 2).transpose(1, 2)
        offsets = self.offset_net(pairs).unflatten(0, (e, q, n))  # [E, Q, N, T, 2]
        extras["sc_offsets"] = offsets
        w_s, w_q = self._weights(offsets, s_map.shape[-2:])
        s_vec = (w_s.unsqueeze(-3) * s_full).sum((-2, -1))
        q_vec = (w_q.unsqueeze(-3) * q_full).sum((-2, -1))
        return s_vec, q_vec
