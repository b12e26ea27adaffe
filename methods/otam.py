"""OTAM: ordered temporal alignment (Cao et al., CVPR 2020).

Frame distances ``D[l, m] = 1 - cos(q_l, s_m)`` (query frame ``l``, support frame ``m``) are padded
with one zero column before and after the support axis (``T x (T+2)``) so that an alignment path
may start and end anywhere. The cumulative distance ``gamma`` takes, in the columns listed below,
the predecessors ``{(l-1, m-1), (l-1, m), (l, m-1)}``, elsewhere ``{(l-1, m-1), (l, m-1)}``; cells
outside the grid are ignored, so the top row is a plain cumulative sum. The video distance is
``gamma(T, T+1)``. ``min`` is relaxed to ``-lam * log(sum(exp(-x / lam)))``, computed with
``torch.logaddexp`` / ``torch.logsumexp`` (stable in float16 and bfloat16 too).

Variants (``OTAMConfig.variant``):

* ``"code"`` (default), the de-facto public implementation copied across TRX-family code: the
  three-predecessor columns are the first real column and the last (padded) one; query->support
  and support->query (transposed ``D``) distances are summed.
* ``"paper"``: Eq. 5 literally: the three-predecessor columns are the padded ``j = 0`` and
  ``j = T+1``, so every real column is entered exactly once and the score sums exactly ``T`` frame
  distances (the paper's "summation of exactly T scores"); one direction, query->support (Eq. 7).
  In the code a path may also stay on the first support frame for several query frames.

Both: class score = mean over that class's ``K`` support videos of the distance (the paper does
not say how ``K > 1`` is handled; the code's mean is used), logits = ``-distance``, no temperature
(Eq. 8). ``hard=True`` uses the exact minimum (``lam -> 0``).

Matching ablation (``matching``, OTAM Table 2) on the same ``D``, per direction: ``otam``; ``min``
(smallest entry); ``mean`` (all entries); ``diagonal`` (mean of the diagonal); ``plain-dtw`` (no
padding, path from ``(1, 1)`` to ``(T, T)``, moves right, down, diagonal, relaxed like OTAM).
The direction rule of the variant applies to every matching. ``min``/``mean``/``diagonal`` are
means (range ``[0, 2]``) while the path scores are sums, as in the paper's definitions.

Config fields (:class:`OTAMConfig`): ``lam`` (0.1), ``variant``, ``matching``, ``hard``,
``adapter`` (identity-initialised ``Linear(D, D)`` on frame features, the suite's trainable part
on frozen cached features, see :mod:`fsar_bench.methods.protonet`), ``return_alignment``.

``extras`` keys:

* ``frame_similarity [E, Q, S, T, T]``: cosine of query frame ``l`` and support frame ``m``.
* ``support_distance [E, Q, S]``: the video distance to every support video.
* ``alignment [E, Q, S, T, T]`` (only with ``return_alignment=True``; one backward pass): the
  derivative of the distance w.r.t. ``D``, divided by the number of directions. For the relaxed
  recursion it is the expected alignment matrix under the soft-min path distribution, for the
  hard one the 0/1 argmin path (the mean of the two directions' paths in the ``code`` variant).

Other deviations from the public code: it relaxes every cell with an unshifted
``-lam * log(sum(exp(-gamma / lam)))``, here log-sum-exp is used. The unshifted form fails in
float32 too, not only in half precision: ``exp(-gamma / lam)`` underflows to 0 once every
predecessor's cumulative distance exceeds about ``103 * lam`` (10.3 at ``lam = 0.1``; half
precision: about 1.7), and ``log(0)`` makes the distance ``+inf``. Frames that are only weakly
similar (``1 - cos`` near 1) reach that within about 10 frames: with ``T = 12`` or ``16`` the
public form gives ``+inf`` for every class (measured on random 2048-d features; ``T = 8`` stays
finite), while the distances here stay finite. Its commented-out "relaxed top row"
(``- lbda * log(exp(-cum))``, missing the ``/ lbda``) is not reproduced: with the division a
soft-min over a single predecessor is exact, so relaxing the top row changes nothing. The cosine
uses ``F.normalize`` once per frame in :meth:`OTAM.embed` instead of ``|x||y| + 0.01``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState, class_mean
from fsar_bench.methods.protonet import frame_adapter

VARIANTS = ("code", "paper")
MATCHINGS = ("otam", "min", "mean", "diagonal", "plain-dtw")


@dataclass(frozen=True, kw_only=True)
class OTAMConfig:
    """OTAM settings; defaults reproduce the public (TRX-family) implementation."""

    lam: float = 0.1
    variant: str = "code"
    matching: str = "otam"
    hard: bool = False
    adapter: bool = True
    return_alignment: bool = False

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise FsarError(f"otam variant {self.variant!r} unknown; choose one of {VARIANTS}")
        if self.matching not in MATCHINGS:
            raise FsarError(f"otam matching {self.matching!r} unknown; choose one of {MATCHINGS}")
        if not self.hard and not self.lam > 0:
            raise FsarError(f"otam lam must be > 0 (or set hard=True), got {self.lam}")


def _recursion(x: Tensor, vertical: set[int], free_last: bool, soft: bool) -> Tensor:
    """Negated, scaled cumulative cost of the end cell, looping over columns only.

    Args:
        x: ``[L, W, B]`` negated scaled costs ``-P / s`` (batch last, so slices are contiguous).
        vertical: columns ``>= 1`` whose cells also take the vertical predecessor ``(l-1, m)``.
            Column 0 always does (only vertical moves reach it), row 0 only has horizontal ones.
        free_last: the last column costs zero and takes three predecessors; its running soft-min
            over rows then reduces to one log-sum-exp over the previous column's candidates.
        soft: log-sum-exp (relaxed min) instead of max (exact min) in the negated domain.

    Returns:
        ``[B]``: ``-gamma(L-1, W-1) / s``.
    """
    comb = torch.logaddexp if soft else torch.maximum
    top = x[0].cumsum(0)  # [W, B]: row 0, horizontal moves only
    prev = x[:, 0].cumsum(0)  # [L, B]: column 0, vertical moves only
    for m in range(1, x.shape[1] - 1 if free_last else x.shape[1]):
        cand = comb(prev[:-1], prev[1:])  # [L-1, B]: diagonal or horizontal into rows 1..L-1
        if m in vertical:
            rows = [top[m]]
            for row in range(1, x.shape[0]):
                rows.append(x[row, m] + comb(cand[row - 1], rows[-1]))
            prev = torch.stack(rows)
        else:
            prev = torch.cat([top[m : m + 1], x[1:, m] + cand])
    if not free_last:
        return prev[-1]
    ends = torch.cat([prev[:1], comb(prev[:-1], prev[1:])])  # [L, B]
    return torch.logsumexp(ends, 0) if soft else ends.amax(0)


def _solve(dist: Tensor, lam: float, hard: bool, pad: bool, vertical: set[int]) -> Tensor:
    """``[..., L, M]`` distances -> ``[...]`` cumulative distance of the end cell."""
    s = 1.0 if hard else lam
    x = dist / -s
    if pad:
        x = F.pad(x, (1, 1))
    batch = x.shape[:-2]
    x = x.reshape(-1, *x.shape[-2:]).permute(1, 2, 0).contiguous()  # [L, W, B]
    out = _recursion(x, vertical, free_last=pad, soft=not hard)
    return (out * -s).reshape(batch)


def otam_distance(
    dist: Tensor, lam: float = 0.1, *, variant: str = "code", hard: bool = False
) -> Tensor:
    """One-direction OTAM distance ``gamma(L, M+1)`` of unpadded frame distances.

    Args:
        dist: ``[..., L, M]`` distances (query frames x support frames); padding is added here.
        lam: soft-min temperature (ignored when ``hard``).
        variant: ``"code"`` (three predecessors in the first real and the last column) or
            ``"paper"`` (in the padded first and last columns, Eq. 5).
        hard: exact minimum instead of the relaxation.

    Returns:
        ``[...]`` cumulative distances.
    """
    vertical = {1} if variant == "code" else set()
    return _solve(dist, lam, hard, pad=True, vertical=vertical)


def dtw_distance(dist: Tensor, lam: float = 0.1, *, hard: bool = False) -> Tensor:
    """Plain (soft-)DTW: ``[..., L, M]`` -> ``[...]``, path ``(0, 0) -> (L-1, M-1)``, 3 moves."""
    return _solve(dist, lam, hard, pad=False, vertical=set(range(1, dist.shape[-1])))


def match_distance(
    dist: Tensor,
    matching: str = "otam",
    lam: float = 0.1,
    *,
    variant: str = "code",
    hard: bool = False,
) -> Tensor:
    """One direction of a matching rule (OTAM Table 2): ``[..., L, M]`` -> ``[...]``."""
    if matching == "otam":
        return otam_distance(dist, lam, variant=variant, hard=hard)
    if matching == "plain-dtw":
        return dtw_distance(dist, lam, hard=hard)
    if matching == "min":
        return dist.amin((-2, -1))
    if matching == "mean":
        return dist.mean((-2, -1))
    if matching == "diagonal":
        return dist.diagonal(dim1=-2, dim2=-1).mean(-1)
    raise FsarError(f"otam matching {matching!r} unknown; choose one of {MATCHINGS}")


def video_distance(dist: Tensor, **kwargs: Any) -> Tensor:
    """Video distance with the variant's direction rule: ``[..., L, M]`` -> ``[...]``.

    ``variant="code"`` sums ``match_distance(D) + match_distance(D^T)``; ``"paper"`` uses
    ``match_distance(D)``. Keyword arguments are those of :func:`match_distance`.
    """
    if kwargs.get("variant", "code") == "paper":
        return match_distance(dist, **kwargs)
    flipped = dist.transpose(-1, -2)
    if dist.shape[-1] != dist.shape[-2]:
        return match_distance(dist, **kwargs) + match_distance(flipped, **kwargs)
    return match_distance(torch.stack([dist, flipped]), **kwargs).sum(0)  # one batched pass


def alignment(dist: Tensor, **kwargs: Any) -> Tensor:
    """Soft (expected) or hard (argmin path) alignment of :func:`video_distance`.

    Args:
        dist: ``[..., L, M]`` frame distances.
        **kwargs: those of :func:`match_distance`.

    Returns:
        ``[..., L, M]``: ``d video_distance / d dist`` divided by the number of directions.
    """
    directions = 1 if kwargs.get("variant", "code") == "paper" else 2
    with torch.enable_grad():
        d = dist.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(video_distance(d, **kwargs).sum(), d)
    return grad / directions


class OTAM(FewShotMethod):
    """OTAM on pooled features ``[V, T, D]``.

    Args:
        feature_dim: ``D``.
        config: :class:`OTAMConfig`.
    """

    input_kind = "pooled"

    def __init__(self, feature_dim: int, config: OTAMConfig | None = None) -> None:
        super().__init__()
        self.config = config or OTAMConfig()
        self.adapter = frame_adapter(feature_dim, self.config.adapter)

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, D]`` -> ``{"frames": [V, T, D]}``, adapted and L2-normalised per frame."""
        return {"frames": F.normalize(self.adapter(videos), dim=-1)}

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """States ``[E, S, T, D]`` / ``[E, Q, T, D]`` -> logits ``[E, Q, N]``."""
        q, s = query["frames"], support["frames"]
        e, n_q, t_q, dim = q.shape
        n_s, t_s = s.shape[1:3]
        sim = torch.bmm(q.reshape(e, n_q * t_q, dim), s.reshape(e, n_s * t_s, dim).transpose(1, 2))
        sim = sim.reshape(e, n_q, t_q, n_s, t_s).transpose(2, 3)  # [E, Q, S, T, T]
        cfg = self.config
        kwargs = dict(matching=cfg.matching, lam=cfg.lam, variant=cfg.variant, hard=cfg.hard)
        dist = video_distance(1 - sim, **kwargs)  # [E, Q, S]
        extras = {"frame_similarity": sim, "support_distance": dist}
        if cfg.return_alignment:
            extras["alignment"] = alignment(1 - sim, **kwargs)
        return EpisodeOutput(logits=class_mean(-dist, support_labels, n_way), extras=extras)
