"""Implicit temporal alignment with an LSTM and circle loss (Cao et al., CVIU 2021).

Each video's per-frame features ``[T, D]`` go through the suite's adapter and a one-layer LSTM;
the last hidden state ``h_T`` is the video embedding ``[H]`` (paper Sec. 3.3, "implicit
alignment"). A query is scored by the cosine similarity of its embedding to each class prototype,
the mean embedding of the class's ``K`` shots (Eq. 8; for ``K = 1`` the support video itself).

Losses (``loss``):

* ``"circle"`` (default, paper Sec. 3.4, Eq. 12): pytorch-metric-learning's
  ``CircleLoss(m=m, gamma=gamma)`` with ``O_p = 1 + m``, ``O_n = -m``, ``Delta_p = 1 - m``,
  ``Delta_n = m`` and the weights ``alpha`` detached (the gradients of Eqs. 14-15 treat them as
  constants). Pairs (``pairs``):

  - ``"query-support"`` (default, the paper's wording): every query is an anchor; its positives
    are the ``K`` support videos of its class, its negatives the ``(N-1) K`` others (per support
    *video*, not per prototype). Called as ``loss(query, query_labels, ref_emb=support,
    ref_labels=support_labels)``, so no query-query or support-support pairs.
  - ``"episode"``: every support and query video of the episode is an anchor against all other
    videos of the episode (PML's default all-pairs mode on ``cat(support, query)``).

  Per anchor ``softplus(logsumexp_n(gamma a_n (s_n - Delta_n)) + logsumexp_p(-gamma a_p (s_p -
  Delta_p)))``; PML averages over anchors whose loss is above zero (``AvgNonZeroReducer``; the
  softplus is positive, so every anchor counts unless it underflows to exactly 0). Each episode
  is a separate PML call (pairs never cross episodes); the episode losses are averaged.
* ``"ce"``: cross-entropy of the logits ``scale * cos(query, prototype)`` (paper Table 3, "CEL").

Config fields (:class:`ITAConfig`): ``hidden`` (512, the best of Table 2), ``loss``, ``m`` (0.4),
``gamma`` (128), ``pairs``, ``scale`` (10.0), ``learn_scale``, ``adapter``.

Logits: ``scale * cos(query embedding, class prototype)`` ``[E, Q, N]`` for both losses (the
scale does not change the prediction; circle loss does not read the logits).

``extras`` keys: ``query_embedding [E, Q, H]``, ``support_embedding [E, S, H]`` (support order),
``support_labels [E, S]``, ``prototypes [E, N, H]``.

Deviations from the paper (no public code of the authors could be found):

* Input: the suite's per-frame features of its frozen 2D backbone (``T = 8`` frames, spatially
  average pooled), not per-clip features of MFNet pretrained on Kinetics-400 (``T = 3`` clips of
  16 frames, ``C = 768``, global average pooled over ``T' x H x W``) fine-tuned end to end.
* Adapter: the identity-initialised ``Linear(D, D)`` of every suite method (see
  :mod:`fsar_bench.methods.protonet`) precedes the LSTM. The LSTM's input map is linear, so the
  adapter adds no expressive power; ``adapter=False`` is the paper's form.
* LSTM: ``torch.nn.LSTM`` (one layer, zero initial state, PyTorch's default initialisation),
  i.e. ``h = o * tanh(c)`` without peepholes. The paper's Eqs. 3-6 have peephole terms
  ``W_c o c`` and Eq. 7 prints ``h = o + tanh(c)``, which we read as a typo for the product.
* ``gamma`` and ``m``: the values of Fig. 7 are not given in the text. ``m = 0.4`` is the fixed
  value of the gamma sweep (Fig. 7a) and ``gamma = 128`` the fixed value of the m sweep
  (Fig. 7b), so ``(0.4, 128)`` is the setting common to both panels; the text says circle loss
  beats cross-entropy for gamma in 32..128 and every m in -0.2..0.4.
* The temperature of the paper's cross-entropy baseline is not stated; ``scale = 10`` is ours.
* Training recipe (not a method field): paper SGD, lr 1e-5 divided by 10 after 12,000 of 18,000
  episodes, one query per class in training (the suite's ``train.query`` default).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from pytorch_metric_learning.losses import CircleLoss
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState
from fsar_bench.methods.protonet import LogitScale, frame_adapter, prototype_logits

LOSSES = ("circle", "ce")
PAIRS = ("query-support", "episode")


@dataclass(frozen=True, kw_only=True)
class ITAConfig:
    """Settings of the implicit-alignment model; defaults are the paper's best (see module)."""

    hidden: int = 512
    loss: str = "circle"
    m: float = 0.4
    gamma: float = 128.0
    pairs: str = "query-support"
    scale: float | None = 10.0
    learn_scale: bool = False
    adapter: bool = True

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise FsarError(f"ita loss {self.loss!r} unknown; choose one of {LOSSES}")
        if self.pairs not in PAIRS:
            raise FsarError(f"ita pairs {self.pairs!r} unknown; choose one of {PAIRS}")
        if self.hidden < 1 or not self.gamma > 0:
            raise FsarError(f"ita needs hidden >= 1 and gamma > 0, got {self.hidden}, {self.gamma}")


class ITA(FewShotMethod):
    """LSTM video embedding, prototype cosine, circle or cross-entropy loss.

    Args:
        feature_dim: ``D`` of the per-frame features ``[V, T, D]``.
        config: :class:`ITAConfig`.
    """

    input_kind = "pooled"

    def __init__(self, feature_dim: int, config: ITAConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or ITAConfig()
        self.adapter = frame_adapter(feature_dim, cfg.adapter)
        self.lstm = nn.LSTM(feature_dim, cfg.hidden, batch_first=True)
        self.logit_scale = LogitScale(cfg.scale, cfg.learn_scale)
        self.circle = CircleLoss(m=cfg.m, gamma=cfg.gamma)

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, D]`` -> ``{"embedding": [V, H]}``, the LSTM's last hidden state ``h_T``."""
        _, (h, _) = self.lstm(self.adapter(videos))  # h: [1, V, H]
        return {"embedding": h[-1]}

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """States ``[E, S, H]`` / ``[E, Q, H]`` -> logits ``[E, Q, N]`` (scaled cosine)."""
        q, s = query["embedding"], support["embedding"]
        scores, prototypes = prototype_logits(q, s, support_labels, n_way)
        extras = {
            "query_embedding": q,
            "support_embedding": s,
            "support_labels": support_labels,
            "prototypes": prototypes,
        }
        return EpisodeOutput(logits=self.logit_scale(scores), extras=extras)

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        """Circle loss (mean over episodes) or cross-entropy; ``query_labels [E, Q]``."""
        if self.config.loss == "ce":
            return super().loss(output, query_labels)
        x = output.extras
        losses = []
        for e in range(query_labels.shape[0]):
            q, ql = x["query_embedding"][e], query_labels[e]
            s, sl = x["support_embedding"][e], x["support_labels"][e]
            if self.config.pairs == "query-support":
                losses.append(self.circle(q, ql, ref_emb=s, ref_labels=sl))
            else:
                losses.append(self.circle(torch.cat([s, q]), torch.cat([sl, ql])))
        return torch.stack(losses).mean()
