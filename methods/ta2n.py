"""TA2N: two-stage action alignment (Li et al., AAAI 2022), as the official code does it.

Input kind ``"spatial"``: a video is ``[T, C, H, W]`` (pre-pool backbone maps). Reference code:
github.com/R00Kie-Liu/TA2N (``models/ta2n.py``, ``models/model_ta2n.py``, ``run/run_ta2n.py``).

Pipeline. ``embed`` (per video, once): dropout 0.5 (training), TTM warp, then for the 1-shot
branch the TC projections ``W_k p, W_q p, W_v p`` of the pooled map ``p`` and the SC offset
net's per-video first-conv halves ``conv_s(X + W_v p)``, ``conv_q(X)`` and the broadcast basis
(see :mod:`fsar_bench.methods.ta2n_modules`); for the k-shot branch the k-shot key/query
projections, the value-projected map ``X_m = W_vm X`` and the same query-side items of ``X_m``.
``compare`` (per episode): prototypes, TC attention, SC offsets from the summed halves, masks,
pooling and the distance ``sum_t (1 - cos(s_t, q_t))``; logits ``= -distance``.

K-shot (official ``insupport_align``, used whenever K > 1): per class, the first shot (by label,
:func:`~fsar_bench.methods.base.group_by_label`) is the reference; ``A[k, x, y] =
softmax_x(W_km s_k[x] . W_qm ref[y] / sqrt(C))`` (normalised over the shot's frames ``x`` for each
reference frame ``y``; the reference itself is re-attended too); prototype
``[y] = mean_k sum_x A[k, x, y] W_vm s_k[x]`` over full maps, no residual. Queries become
``W_vm Q`` (no residual). TC and SC then run on (prototype, ``W_vm Q``).

Extras (always): ``support_ab [E, S, 2]`` (support order) and ``query_ab [E, Q, 2]``, the TTM
``(a, b)`` (if ``ttm``); ``tc_attention [E, Q, N, T, T]`` (support frame ``x``, query frame ``y``;
if ``tc``); ``kshot_attention [E, N, K, T, T]`` (shot frame ``x``, reference frame ``y``; K > 1
with ``kshot_align``); ``sc_offsets [E, Q, N, T, 2]``, the predicted ``(x, y)`` offsets before
jitter, or the chosen integer shifts for ``sc_design="enumerate"`` (if ``sc``). With
``return_extras=True``: ``query_embedding_before [E, Q, T, C]`` and ``prototype_before
[E, N, T, C]`` (input maps pooled over ``H, W``, prototypes as the mean over shots),
``query_embedding_after`` and ``prototype_after [E, Q, N, T, C]`` (the aligned pair fed to the
distance, centred with ``centre``; not for ``enumerate``).

State keys (leading ``V``): ``ab [V, 2]`` (``ttm``); ``input_pooled [V, T, C]``
(``return_extras``); 1-shot branch: ``map [V, T, C, H, W]`` (TTM-warped input), ``key``, ``query``,
``value [V, T, C]`` (``tc``), ``conv_s``, ``conv_q [V, 128, T, H, W]`` and ``basis_q [V, 3T, 1152]``
(SC ``mask``/``grid``, decomposed); k-shot branch: ``m_shot_key``, ``m_ref_query [V, T, C]``,
``m_map = W_vm map`` and its query-side ``m_query``, ``m_value``, ``m_conv_q``, ``m_basis_q``.
Float32 size per video: 1.9 MiB at C=1280, 4x4, T=8 with ``shots=None`` (both branches), 1.0 MiB
with ``shots`` set; 7.4 / 3.7 MiB at C=2048, 7x7.

Differences from the official code (default = official behaviour unless said):

* Shots are grouped by label, not by position (the official loader emits class-major support,
  where both agree). The k-shot reference is the class's first shot as in the code (the paper's
  supplementary says it is picked at random).
* BatchNorm in training: the TTM net normalises over all videos of one ``embed`` call (official:
  the episode's support batch and query batch separately); the offset net over all pairs of the
  ``E`` episodes of one ``compare`` call (official: one episode). Evaluation is identical.
* Max-pool kernels are clipped to axes shorter than the kernel, and the SC mask grid uses ``W``
  for ``x`` and ``H`` for ``y`` (official: square maps only), so any ``T, H, W`` works; identical
  wherever the official code runs.
* The SC offset net's first conv is computed in the exact decomposed form (``sc_impl``); the
  naive per-pair concatenation is kept as ``sc_impl="naive"`` (same numbers up to float rounding).
* Toggles ``tc`` / ``sc`` are the paper's Table 3 ablation (the code only has ``second_stage``,
  which switches both off and then compares flattened ``C*H*W`` maps per frame). Here ``tc=False``
  drops the attention and all ``W_v`` terms; ``sc=False`` averages over ``H, W``; all off gives
  the frame-wise cosine of pooled features (Table 3's first row). ``kshot_align=False`` (not in
  the code) averages the shots' maps instead of ``insupport_align``.
* ``sc_design="grid"`` / ``"enumerate"`` (Table 4) have no public code; our reading: ``grid``
  resamples the overlap window bilinearly (same jitter); ``enumerate`` tries every integer shift
  per frame with hard overlap boxes and keeps the smallest distance (no offset net).
* Jitter: official keeps amplitude 0.2 and the jitters on at test (its ``decay()``, which
  halves the amplitude, is never called); the paper decays it every 40 epochs and disables it at
  test (``jitter_at_test=False``; a trainer may change ``jitter`` between runs). The
  paper's slope ``gamma=3`` equals the code's one-cell fall-off on 7x7 maps.
* ``loss`` = cross-entropy summed over an episode's queries, averaged over the episodes of the
  call. Official: per episode summed CE divided by 16, gradients accumulated over 16 episodes
  (``accumulate_episodes``), SGD lr 1e-3 without momentum (paper: momentum 0.9 and lr decay),
  100,020 episodes, 5 queries per class in training.
* Short budgets: with the default init the TC and k-shot attention logits are tiny (std ~0.16
  on EfficientNet-Lite0 features), so both attentions start uniform: k-shot prototypes start as
  temporal averages and TC's residual as a temporal constant. On frozen features the quick
  preset's few hundred episodes do not get TA2N out of that state (measured; see the README).
* ``centre`` (not in the paper or code; off by default) and ``scale`` / ``learn_scale`` (no
  multiplier by default): on frozen cached features the official distance collapses. At
  initialisation the logits carry no class information yet but spread by ~1, so the loss is
  above ``ln N``; the cheapest descent direction adds one vector to every embedding (every
  cosine -> 1, logits equal, loss exactly ``ln N``). The projections (``reduce_channels``, the
  k-shot and TC value maps) do this for free because their inputs share a large mean
  (EfficientNet-Lite0 maps: non-negative, 39% of the energy on the mean direction; 31% of the
  first Adam step's change of the ``reduce`` output is one vector shared by all videos), and
  the uniform attentions' temporal averages add to it. Measured on synthetic-mid (5-way
  5-shot, Adam 1e-3): the cosine between classes' aligned prototypes goes 0.82 -> 0.98 in three
  steps, the logit spread 1.17 -> 0.16, also with SGD, lr 1e-4 (slower), no dropout, a frozen
  ``reduce`` or a zero TC value map. ``centre=True`` subtracts, per query and frame, the mean
  of the ``N`` aligned prototypes from both sides before the cosine: a vector shared by all
  embeddings cannot move a logit, so the collapse direction has zero gradient. Centred cosines
  spread about 3x wider (cross-class cosine about ``-1/(N-1)`` instead of 0.82), hence
  ``scale=0.3`` (learned) restores the official initial logit spread; a learned scale without
  centring still collapses.
* Conv1d(kernel 1) projections are ``nn.Linear`` (same map and init distribution); parameter
  names differ from the official checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, VideoState, group_by_label
from fsar_bench.methods.protonet import LogitScale
from fsar_bench.methods.ta2n_modules import (
    JITTER_DIRECTIONS,
    LocalisationNet,
    OffsetNet,
    enumerate_shifts,
    frame_attention,
    pool_query,
    pool_support,
    pooling_weights,
    temporal_warp,
)


@dataclass(frozen=True, kw_only=True)
class TA2NConfig:
    """TA2N settings; defaults reproduce the official code.

    Attributes:
        ttm, tc, sc: stage toggles (TA2N Table 3).
        kshot_align: align shots to the class's first shot for K > 1 (official); else average.
        sc_design: ``"mask"`` (official), ``"grid"`` or ``"enumerate"`` (TA2N Table 4).
        sc_impl: ``"decomposed"`` (per-video first-conv halves) or ``"naive"`` (per-pair concat).
        offset_scale: SC offsets are ``offset_scale * tanh(.)``.
        jitter: amplitude of the 8 SC jitter directions.
        jitter_at_test: keep the jitters in eval mode (official) or use only the zero jitter.
        dropout: dropout on the input features in training.
        shots: K the states are embedded for; ``None`` embeds both the 1-shot and k-shot
            branches so any K works; ``1`` or ``k`` computes only what that K needs.
        return_extras: also return the heavy embeddings in ``extras``.
        reduce_channels: ``None`` (official): TA2N works on the backbone's ``C`` channels. An
            integer ``R`` adds a trainable 1x1 projection ``C -> R`` (per frame and position)
            before TTM, so every later stage costs about ``(R / C)^2`` as much. This is not in
            the paper or the code; it exists only to make CPU runs affordable and is recorded in
            every result's config.
        centre: ``False`` (official): the distance compares the aligned pair as is. ``True``:
            per query and frame, the mean of the ``N`` aligned class prototypes is subtracted
            from both sides before the cosine, so adding one vector to every embedding cannot
            change a logit (stops the collapse on frozen features; see the module docstring).
        scale, learn_scale: logits ``= -scale * distance``; ``None`` (official) multiplies by
            nothing; ``learn_scale`` makes it a parameter initialised to ``scale`` (10.0 when
            ``None``), as ProtoNet's option of the same name.
        optimizer, lr, momentum, accumulate_episodes, train_queries_per_class: the official
            training recipe, for the trainer.
    """

    ttm: bool = True
    tc: bool = True
    sc: bool = True
    kshot_align: bool = True
    sc_design: str = "mask"
    sc_impl: str = "decomposed"
    offset_scale: float = 0.75
    jitter: float = 0.2
    jitter_at_test: bool = True
    dropout: float = 0.5
    shots: int | None = None
    return_extras: bool = False
    reduce_channels: int | None = None
    centre: bool = False
    scale: float | None = None
    learn_scale: bool = False
    optimizer: str = "sgd"
    lr: float = 1e-3
    momentum: float = 0.0
    accumulate_episodes: int = 16
    train_queries_per_class: int = 5

    def __post_init__(self) -> None:
        if self.sc_design not in ("mask", "grid", "enumerate"):
            raise FsarError(f"sc_design must be mask, grid or enumerate, not {self.sc_design!r}")
        if self.sc_impl not in ("decomposed", "naive"):
            raise FsarError(f"sc_impl must be decomposed or naive, not {self.sc_impl!r}")
        if self.reduce_channels is not None and self.reduce_channels < 1:
            raise FsarError(f"reduce_channels must be None or >= 1, not {self.reduce_channels}")
        if self.shots is not None and self.shots < 1:
            raise FsarError(f"shots must be None or >= 1, not {self.shots}")
        if self.centre and self.sc and self.sc_design == "enumerate":
            raise FsarError("centre is not defined for sc_design='enumerate'")


def frame_cosine_distance(s: Tensor, q: Tensor) -> Tensor:
    """``sum_t (1 - cos(s_t, q_t))``: ``[..., T, C]`` x ``[..., T, C]`` -> ``[...]``."""
    return (1 - (F.normalize(s, dim=-1) * F.normalize(q, dim=-1)).sum(-1)).sum(-1)


def _class_order(x, order: Tensor):
    """Reorder axis 2 (support position) into class order, ``order [E, N]``; maps over dicts."""
    if isinstance(x, dict):
        return {k: _class_order(v, order) for k, v in x.items()}
    index = order.view(order.shape[0], 1, order.shape[1], *[1] * (x.dim() - 3))
    return x.gather(2, index.expand(x.shape[0], x.shape[1], -1, *x.shape[3:]))


def _bcast(x: Tensor) -> Tensor:
    """``[..., T, C]`` -> ``[..., T, C, 1, 1]`` (constant over ``H, W``)."""
    return x[..., None, None]


class TA2N(FewShotMethod):
    """TA2N on spatial maps; see the module docstring."""

    input_kind = "spatial"

    def __init__(self, feature_dim: int, config: TA2NConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or TA2NConfig()
        c = feature_dim
        self.reduce = None
        if cfg.reduce_channels is not None:  # named CPU option, not in the paper or code
            self.reduce = nn.Linear(c, cfg.reduce_channels)
            c = cfg.reduce_channels
        self.locnet = LocalisationNet(c) if cfg.ttm else None
        if cfg.tc:  # TC's W_k, W_q, W_v (official ACM keynet, querynet, valuenet)
            self.tc_key, self.tc_query, self.tc_value = (nn.Linear(c, c, bias=False) for _ in "kqv")
        if cfg.kshot_align:  # official keynet_multi, querynet_multi, valuenet_multi
            self.kshot_key, self.kshot_query, self.kshot_value = (
                nn.Linear(c, c, bias=False) for _ in "kqv"
            )
        uses_net = cfg.sc and cfg.sc_design != "enumerate"
        self.offset_net = OffsetNet(c, cfg.offset_scale) if uses_net else None
        self.logit_scale = LogitScale(cfg.scale, cfg.learn_scale)
        jitter = cfg.jitter * torch.tensor(JITTER_DIRECTIONS, dtype=torch.float32)
        self.register_buffer("jitter", jitter, persistent=False)  # [9, 2] (x, y)

    # --- per video ---------------------------------------------------------------------------
    def _branches(self) -> tuple[bool, bool]:
        """Which states ``embed`` builds: (1-shot branch, k-shot branch)."""
        shots, kshot = self.config.shots, self.config.kshot_align
        if shots is None:
            return True, kshot
        return shots == 1 or not kshot, shots > 1 and kshot

    def embed(self, videos: Tensor) -> VideoState:
        """``[V, T, C, H, W]`` -> state; keys are listed in the module docstring."""
        cfg = self.config
        if self.training and cfg.dropout > 0:
            videos = F.dropout(videos, cfg.dropout)
        if self.reduce is not None:  # [V, T, C, H, W] -> [V, T, R, H, W]
            videos = self.reduce(videos.movedim(2, -1)).movedim(-1, 2)
        state: VideoState = {}
        if cfg.return_extras:
            state["input_pooled"] = videos.mean((-2, -1))
        x = videos
        if self.locnet is not None:
            ab = self.locnet(videos.transpose(1, 2))  # [V, 2]
            x = temporal_warp(videos.flatten(2), ab).reshape(videos.shape)
            state["ab"] = ab
        one, multi = self._branches()
        if one:
            state.update(self._side_state(x, support=True, prefix=""))
        if multi:
            pooled = x.mean((-2, -1))
            state["m_shot_key"] = self.kshot_key(pooled)
            state["m_ref_query"] = self.kshot_query(pooled)
            xm = torch.einsum("dc,vtchw->vtdhw", self.kshot_value.weight, x)
            state.update(self._side_state(xm, support=False, prefix="m_"))
        return state

    def _side_state(self, x: Tensor, support: bool, prefix: str) -> VideoState:
        """TC projections and SC first-conv halves of maps ``x [V, T, C, H, W]``."""
        cfg = self.config
        out = {"map": x}
        pooled = x.mean((-2, -1))
        v = torch.zeros_like(pooled)
        if cfg.tc:
            v = self.tc_value(pooled)
            out.update(query=self.tc_query(pooled), value=v)
            if support:
                out["key"] = self.tc_key(pooled)
        if self.offset_net is not None and cfg.sc_impl == "decomposed":
            out["conv_q"] = self.offset_net.half_conv(x.transpose(1, 2), 1)
            if cfg.tc:
                out["basis_q"] = self.offset_net.broadcast_basis(v)
            if support:
                out["conv_s"] = self.support_conv(x, v)
        return {prefix + k: t for k, t in out.items()}

    def support_conv(self, maps: Tensor, value: Tensor) -> Tensor:
        """Support half of the first conv on ``maps + W_v p``.

        Args:
            maps: ``[B, T, C, H, W]``; value: ``[B, T, C]`` (``W_v p``, zeros without TC).

        Returns:
            ``[B, 128, T, H, W]`` (no bias).
        """
        return self.offset_net.half_conv((maps + _bcast(value)).transpose(1, 2), 0)

    # --- per episode -------------------------------------------------------------------------
    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """Logits ``[E, Q, N]`` from states ``[E, S, ...]`` and ``[E, Q, ...]``."""
        shots = support_labels.shape[1] // n_way
        multi = shots > 1 and self.config.kshot_align
        needed = "m_map" if multi else "map"
        if needed not in query:
            raise FsarError(
                f"TA2N states were embedded with shots={self.config.shots}, not {shots}"
            )
        extras: dict[str, Tensor] = {}
        order = None  # K = 1: pairs in support order, columns put in class order at the end
        if multi:
            sup = self._prototypes(support, support_labels, n_way, extras)
        elif shots == 1:
            sup = {k: support[k] for k in ("map", "key", "value", "conv_s") if k in support}
            order = torch.sort(support_labels, dim=1, stable=True).indices  # [E, N] positions
        else:
            keys = [k for k in ("map", "key", "value", "conv_s") if k in support]
            sup = {k: group_by_label(support[k], support_labels, n_way).mean(2) for k in keys}
        prefix = "m_" if multi else ""
        qry = {
            k: query[prefix + k]
            for k in ("map", "query", "value", "conv_q", "basis_q")
            if prefix + k in query
        }
        pair_extras: dict[str, Tensor] = {}
        dist = self._pair_distance(sup, qry, pair_extras)  # [E, Q, N or S], extras [E, Q, N, ...]
        if order is not None:
            dist, pair_extras = (_class_order(x, order) for x in (dist, pair_extras))
        extras.update(pair_extras)
        if "ab" in support:
            extras.update(support_ab=support["ab"], query_ab=query["ab"])
        if self.config.return_extras:
            extras["query_embedding_before"] = query["input_pooled"]
            before = group_by_label(support["input_pooled"], support_labels, n_way)
            extras["prototype_before"] = before.mean(2)
        return EpisodeOutput(self.logit_scale(-dist), extras)

    def _prototypes(
        self, support: VideoState, labels: Tensor, n_way: int, extras: dict[str, Tensor]
    ) -> VideoState:
        """K-shot prototypes (official ``insupport_align``) and their TC / SC support items."""
        e, s = labels.shape
        shots = s // n_way
        first = torch.sort(labels, dim=1, stable=True).indices[:, ::shots]  # [E, N] positions
        ref = support["m_ref_query"]  # [E, S, T, C]; the reference of shot s: its class's first
        ref = ref.gather(1, first.gather(1, labels)[..., None, None].expand_as(ref))
        attn = frame_attention(support["m_shot_key"], ref, dim=-2)  # [E, S, T(x), T(y)], over x
        extras["kshot_attention"] = group_by_label(attn, labels, n_way)  # [E, N, K, T, T]
        member = F.one_hot(labels, n_way).to(attn.dtype) / shots  # [E, S, N]
        mix = torch.einsum("esn,esxy->enysx", member, attn)  # [E, N, T(y), S, T(x)]
        maps = support["m_map"]  # [E, S, T, C, H, W]
        proto = mix.reshape(e, -1, s * maps.shape[2]) @ maps.flatten(1, 2).flatten(2)
        proto = proto.view(e, n_way, *maps.shape[2:])
        sup = {"map": proto}  # [E, N, T, C, H, W]
        if self.config.tc:
            pooled = proto.mean((-2, -1))
            sup.update(key=self.tc_key(pooled), value=self.tc_value(pooled))
        if self.offset_net is not None and self.config.sc_impl == "decomposed":
            value = sup.get("value", torch.zeros_like(proto[..., 0, 0]))
            conv = self.support_conv(proto.flatten(0, 1), value.flatten(0, 1))
            sup["conv_s"] = conv.unflatten(0, proto.shape[:2])
        return sup

    def _pair_distance(self, sup: VideoState, qry: VideoState, extras: dict[str, Tensor]) -> Tensor:
        """TC + SC on every (query, class) pair and the distance ``[E, Q, N]``."""
        cfg = self.config
        s_map, q_map = sup["map"], qry["map"]  # [E, N, T, C, H, W], [E, Q, T, C, H, W]
        attn, r = None, s_map.new_zeros(())
        s_res = r
        if cfg.tc:
            attn = frame_attention(sup["key"][:, None], qry["query"][:, :, None], dim=-1)
            r = torch.einsum("eqnxy,eqyc->eqnxc", attn, qry["value"])  # [E, Q, N, T, C]
            s_res = sup["value"][:, None]  # [E, 1, N, T, C]
            extras["tc_attention"] = attn
        if not cfg.sc:
            s_vec = s_map.mean((-2, -1))[:, None] + s_res
            q_vec = q_map.mean((-2, -1))[:, :, None] + r
        elif cfg.sc_design == "enumerate":
            dist, extras["sc_offsets"] = enumerate_shifts(s_map, s_res, q_map, r)
            return dist
        elif cfg.sc_impl == "naive":
            s_vec, q_vec = self._sc_naive(s_map, s_res, q_map, r, extras)
        else:
            offsets = self._offsets(sup, qry, attn, s_map.shape[-2:])
            w_s, w_q = self._weights(offsets, s_map.shape[-2:])
            s_vec = pool_support(w_s, s_map) + s_res
            q_vec = pool_query(w_q, q_map) + r
            extras["sc_offsets"] = offsets
        if cfg.centre:  # the N prototypes' mean, per query and frame: [E, Q or 1, 1, T, C]
            mean = s_vec.mean(2, keepdim=True)
            s_vec, q_vec = s_vec - mean, q_vec - mean
        if cfg.return_extras:
            shape = torch.broadcast_shapes(s_vec.shape, q_vec.shape)
            extras.update(
                query_embedding_after=q_vec.expand(shape), prototype_after=s_vec.expand(shape)
            )
        return frame_cosine_distance(s_vec, q_vec)

    def _offsets(
        self, sup: VideoState, qry: VideoState, attn: Tensor | None, hw: tuple[int, int]
    ) -> Tensor:
        """Decomposed first conv, then the rest of the offset net: ``[E, Q, N, T, 2]``."""
        h1 = sup["conv_s"][:, None] + qry["conv_q"][:, :, None]  # [E, Q, N, 128, T, H, W]
        if attn is not None:
            h1 = h1 + self.offset_net.broadcast_response(attn, qry["basis_q"], *hw)
        return self.offset_net.tail(h1.flatten(0, 2)).unflatten(0, h1.shape[:3])

    def _weights(self, offsets: Tensor, hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """Support (``+offset``) and query (``-offset``) pooling weights ``[E, Q, N, T, H, W]``."""
        jitter = self.jitter if self.training or self.config.jitter_at_test else self.jitter[:1]
        jittered = offsets[..., None, :] + jitter  # [E, Q, N, T, J, 2]
        design = self.config.sc_design
        return pooling_weights(jittered, *hw, design), pooling_weights(-jittered, *hw, design)

    def _sc_naive(self, s_map, s_res, q_map, r, extras) -> tuple[Tensor, Tensor]:
        """Reference SC: build every pair's ``[2C, T, H, W]`` maps and pool them directly."""
        e, q, n = q_map.shape[0], q_map.shape[1], s_map.shape[1]
        s_full = (s_map[:, None] + _bcast(s_res)).expand(e, q, n, *s_map.shape[2:])
        q_full = q_map[:, :, None] + _bcast(r)  # [E, Q, N, T, C, H, W]
        q_full = q_full.expand_as(s_full)
        pairs = torch.cat([s_full, q_full], dim=-3).flatten(0, 2).transpose(1, 2)
        offsets = self.offset_net(pairs).unflatten(0, (e, q, n))  # [E, Q, N, T, 2]
        extras["sc_offsets"] = offsets
        w_s, w_q = self._weights(offsets, s_map.shape[-2:])
        s_vec = (w_s.unsqueeze(-3) * s_full).sum((-2, -1))
        q_vec = (w_q.unsqueeze(-3) * q_full).sum((-2, -1))
        return s_vec, q_vec

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        """Cross-entropy summed over each episode's queries, averaged over the ``E`` episodes.

        The official trainer divides one episode's summed CE by 16 and accumulates gradients
        over 16 episodes: a trainer accumulating single-episode calls divides each by
        ``config.accumulate_episodes``.
        """
        logits = output.logits
        ce = F.cross_entropy(logits.flatten(0, 1), query_labels.flatten(), reduction="sum")
        return ce / logits.shape[0]
