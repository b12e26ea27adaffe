"""TRN++: TSN++ with the multi-scale temporal relation module (Zhou et al., ECCV 2018).

The TRN++ baseline of OTAM (Cao et al., CVPR 2020, Table 1) replaces TSN++'s average consensus by
TRN's multi-scale relation module. Per-frame features (after the suite's adapter) go through
dropout and ``Linear(D, 256)`` (TRN's ``new_fc`` to ``img_feature_dim``); for each scale
``s = T, T-1, ..., 2`` an MLP ``ReLU, Linear(s * 256, 256), ReLU, Linear(256, out_dim)`` is applied
to ordered ``s``-frame subsets (frames concatenated in temporal order), and all outputs are summed
over subsets and scales. That sum is the video embedding; the score is the cosine similarity to
class prototypes (mean embedding over the shots), as in TSN++.

Subsets: scale ``T`` has only the full tuple; every other scale uses ``subsets_per_scale`` (3)
distinct subsets out of ``itertools.combinations(range(T), s)``.

* Training: drawn anew on every :meth:`TRNPlusPlus.embed` call, shared by the batch (as TRN's
  ``np.random.choice`` per forward), from the module's own ``torch.Generator`` (attribute
  ``generator``, seeded with ``seed + 1``), never from the global random state.
* Evaluation: a fixed set drawn once at construction from a generator seeded with ``seed`` and
  stored as buffers ``eval_subsets_<s>`` ``[n, s]`` (saved in the state dict), so evaluation is
  deterministic. TRN's code samples at test time too.

No public few-shot TRN++ code exists; the choices made here: ``out_dim`` 256 (TRN's bottleneck
width; in TRN it is the number of classes); dropout 0.8 before the reduction (TRN's default
``--dropout``); raw cosine logits (``scale``/``learn_scale`` as in
:class:`~fsar_bench.methods.protonet.ProtoNetConfig`); the number of frames ``num_frames`` is a
config field because the MLP sizes depend on it. The identity-initialised ``Linear(D, D)`` adapter
is the suite's trainable part on frozen features, used by every method for consistency (see
:mod:`fsar_bench.methods.protonet`); here it precedes TRN's own trainable reduction, so it adds
no expressive power to a linear map and can be switched off (``adapter=False``).

Config fields (:class:`TRNConfig`): ``num_frames``, ``img_feature_dim``, ``bottleneck``,
``out_dim``, ``subsets_per_scale``, ``dropout``, ``scale``, ``learn_scale``, ``adapter``, ``seed``.

``extras`` keys: ``query_embedding [E, Q, out_dim]``, ``prototypes [E, N, out_dim]``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState
from fsar_bench.methods.protonet import LogitScale, frame_adapter, prototype_logits


@dataclass(frozen=True, kw_only=True)
class TRNConfig:
    """TRN++ settings (TRN code defaults where one exists)."""

    num_frames: int = 8
    img_feature_dim: int = 256
    bottleneck: int = 256
    out_dim: int = 256
    subsets_per_scale: int = 3
    dropout: float = 0.8
    scale: float | None = None
    learn_scale: bool = False
    adapter: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_frames < 2:
            raise FsarError(f"trn needs num_frames >= 2, got {self.num_frames}")
        if self.subsets_per_scale < 1:
            raise FsarError(f"trn subsets_per_scale must be >= 1, got {self.subsets_per_scale}")


class TRNPlusPlus(FewShotMethod):
    """TRN++ on pooled features ``[V, T, D]`` with ``T = config.num_frames``.

    Args:
        feature_dim: ``D``.
        config: :class:`TRNConfig`.
    """

    input_kind = "pooled"

    def __init__(self, feature_dim: int, config: TRNConfig | None = None) -> None:
        super().__init__()
        cfg = self.config = config or TRNConfig()
        self.adapter = frame_adapter(feature_dim, cfg.adapter)
        self.dropout = nn.Dropout(cfg.dropout)
        self.reduce = nn.Linear(feature_dim, cfg.img_feature_dim)
        self.scales = list(range(cfg.num_frames, 1, -1))  # T, T-1, ..., 2
        self.mlps = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Linear(s * cfg.img_feature_dim, cfg.bottleneck),
                nn.ReLU(),
                nn.Linear(cfg.bottleneck, cfg.out_dim),
            )
            for s in self.scales
        )
        self.logit_scale = LogitScale(cfg.scale, cfg.learn_scale)
        self.generator = torch.Generator().manual_seed(cfg.seed + 1)
        fixed = torch.Generator().manual_seed(cfg.seed)
        for s in self.scales:
            combos = torch.tensor(list(itertools.combinations(range(cfg.num_frames), s)))
            self.register_buffer(f"combos_{s}", combos, persistent=False)
            self.register_buffer(f"eval_subsets_{s}", self._draw(combos, fixed))

    def _draw(self, combos: Tensor, generator: torch.Generator) -> Tensor:
        """Pick ``min(subsets_per_scale, len(combos))`` distinct subsets (the full tuple at T)."""
        n = min(self.config.subsets_per_scale, len(combos))
        pick = torch.randperm(len(combos), generator=generator)[:n]
        return combos[pick.to(combos.device)]

    def subsets(self, scale: int) -> Tensor:
        """Frame subsets ``[n, scale]`` for this call: random in training, fixed in eval."""
        if self.training:
            return self._draw(getattr(self, f"combos_{scale}"), self.generator)
        return getattr(self, f"eval_subsets_{scale}")

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, D]`` -> ``{"embedding": [V, out_dim]}``."""
        if videos.shape[1] != self.config.num_frames:
            raise FsarError(
                f"trn was built for {self.config.num_frames} frames, got {videos.shape[1]}"
            )
        x = self.reduce(self.dropout(self.adapter(videos)))  # [V, T, F]
        out = 0
        for s, mlp in zip(self.scales, self.mlps, strict=True):
            tuples = x[:, self.subsets(s)]  # [V, n, s, F], frames in temporal order
            out = out + mlp(tuples.flatten(2)).sum(1)  # [V, out_dim]
        return {"embedding": out}

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """States ``[E, S, out_dim]`` / ``[E, Q, out_dim]`` -> logits ``[E, Q, N]``."""
        q = query["embedding"]
        scores, prototypes = prototype_logits(q, support["embedding"], support_labels, n_way)
        extras = {"query_embedding": q, "prototypes": prototypes}
        return EpisodeOutput(logits=self.logit_scale(scores), extras=extras)
