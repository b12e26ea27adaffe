"""ProtoNet / TSN++: temporal average pooling, class prototypes, cosine or Euclidean score.

Per-frame features are averaged over time into a video embedding ``[D]``; a class prototype is the
mean embedding of its ``K`` shots; the score of a query for a class is the cosine similarity to the
prototype (TSN++ of Cao et al. 2020, the default) or the negative squared Euclidean distance
(Snell et al. 2017, ``metric="euclidean"``).

Config fields (:class:`ProtoNetConfig`):

* ``metric``: ``"cosine"`` (default) or ``"euclidean"``.
* ``scale``: ``None`` (default) uses the raw score as logits, as peer code does; a float multiplies
  the scores by that fixed temperature.
* ``learn_scale``: learn the multiplier (a scalar parameter initialised to ``scale``, or to 10.0
  when ``scale`` is ``None``).
* ``adapter``: a trainable ``Linear(D, D)`` on the frame features, initialised to the identity
  (default ``True``; see below).

``extras`` keys: ``query_embedding [E, Q, D]`` and ``prototypes [E, N, D]`` (after the adapter).

Deviations from the papers and peer code:

* The suite trains on frozen cached features, while the papers fine-tune the backbone end to end.
  Without a trainable part ProtoNet would have nothing to learn, so every method of the suite
  (ProtoNet, OTAM, TRN++) puts the same identity-initialised linear adapter on the frame features.
  At initialisation it changes nothing, so an untrained model is exactly the paper's metric on the
  cached features. Since pooling is linear, the adapter is applied after the temporal mean.
* The TSN baseline in the TRX-family code averages the per-shot cosine similarities of a class
  instead of taking the cosine to the mean prototype; the two agree for 1-shot. This module follows
  the prototype form (OTAM paper: "the video level feature ... serve as proxies"; Snell et al.).
* Cosine similarity normalises each vector (``F.normalize``, eps 1e-12); the TRX-family ``cos_sim``
  divides by ``|x||y| + 0.01``, a relative difference of ``0.01 / (|x||y|)``, negligible for
  ResNet-50 features whose norms are in the tens.

The helpers :func:`frame_adapter`, :class:`LogitScale` and :func:`prototype_logits` are shared
with :mod:`fsar_bench.methods.otam` and :mod:`fsar_bench.methods.trn`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import (
    EpisodeOutput,
    FewShotMethod,
    Lazy,
    VideoState,
    group_by_label,
)

METRICS = ("cosine", "euclidean")


@dataclass(frozen=True, kw_only=True)
class ProtoNetConfig:
    """ProtoNet / TSN++ settings; defaults follow the peer code (raw cosine logits)."""

    metric: str = "cosine"
    scale: float | None = None
    learn_scale: bool = False
    adapter: bool = True

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise FsarError(f"protonet metric {self.metric!r} unknown; choose one of {METRICS}")


def frame_adapter(dim: int, enabled: bool = True) -> nn.Module:
    """A trainable ``Linear(dim, dim)`` initialised to the identity, or ``nn.Identity()``."""
    if not enabled:
        return nn.Identity()
    layer = nn.Linear(dim, dim)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(dim))
        layer.bias.zero_()
    return layer


class LogitScale(nn.Module):
    """Multiply scores by nothing (``scale=None``), a fixed float, or a learned scalar.

    Args:
        scale: fixed multiplier, or the initial value of the learned one (10.0 when ``None``).
        learn: make the multiplier a parameter.
    """

    def __init__(self, scale: float | None = None, learn: bool = False) -> None:
        super().__init__()
        init = 10.0 if scale is None else float(scale)
        self.learned = nn.Parameter(torch.tensor(init)) if learn else None
        self.fixed = None if learn else scale

    def forward(self, scores: Tensor) -> Tensor:
        if self.learned is not None:
            return scores * self.learned
        return scores if self.fixed is None else scores * self.fixed


def prototype_logits(
    query: Tensor, support: Tensor, support_labels: Tensor, n_way: int, metric: str = "cosine"
) -> tuple[Tensor, Tensor]:
    """Score query embeddings against class prototypes.

    Args:
        query: ``[E, Q, D]`` query embeddings.
        support: ``[E, S, D]`` support embeddings.
        support_labels: ``[E, S]`` labels ``0..N-1``.
        n_way: ``N``.
        metric: ``"cosine"`` (similarity) or ``"euclidean"`` (negative squared distance).

    Returns:
        ``(scores [E, Q, N], prototypes [E, N, D])``.
    """
    grouped = group_by_label(support, support_labels, n_way)  # [E, N, K, D]
    prototypes = grouped[:, :, 0] if grouped.shape[2] == 1 else grouped.mean(2)  # [E, N, D]
    if metric == "cosine":
        q = F.normalize(query, dim=-1)
        p = F.normalize(prototypes, dim=-1)
        return q @ p.transpose(1, 2), prototypes
    diff = query.unsqueeze(2) - prototypes.unsqueeze(1)  # [E, Q, N, D]
    return -diff.pow(2).sum(-1), prototypes


class ProtoNet(FewShotMethod):
    """TSN++ / ProtoNet on pooled features ``[V, T, D]``.

    Args:
        feature_dim: ``D``.
        config: :class:`ProtoNetConfig`.
    """

    input_kind = "pooled"

    def __init__(self, feature_dim: int, config: ProtoNetConfig | None = None) -> None:
        super().__init__()
        self.config = config or ProtoNetConfig()
        self.adapter = frame_adapter(feature_dim, self.config.adapter)
        self.logit_scale = LogitScale(self.config.scale, self.config.learn_scale)

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, D]`` -> ``{"embedding": [V, D]}`` (temporal mean, then the adapter).

        In eval mode with the cosine metric also ``"unit"``: the embedding L2-normalised once
        per video (1-shot ``compare`` then reads only these; the same numbers as normalising the
        gathered copies).
        """
        e = self.adapter(videos.mean(1))
        if self.training or self.config.metric != "cosine":
            return {"embedding": e}
        return {"embedding": e, "unit": F.normalize(e, dim=-1)}

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """States ``[E, S, D]`` / ``[E, Q, D]`` -> logits ``[E, Q, N]``."""
        if "unit" in query and support_labels.shape[1] == n_way:  # 1-shot, cosine, eval
            proto = group_by_label(support["unit"], support_labels, n_way)[:, :, 0]
            scores = query["unit"] @ proto.transpose(1, 2)
            extras = Lazy(
                {
                    "query_embedding": lambda: query["embedding"],
                    "prototypes": lambda: group_by_label(
                        support["embedding"], support_labels, n_way
                    )[:, :, 0],
                }
            )
            return EpisodeOutput(logits=self.logit_scale(scores), extras=extras)
        q = query["embedding"]
        scores, prototypes = prototype_logits(
            q, support["embedding"], support_labels, n_way, self.config.metric
        )
        extras = {"query_embedding": q, "prototypes": prototypes}
        return EpisodeOutput(logits=self.logit_scale(scores), extras=extras)
