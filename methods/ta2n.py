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
(``return_extras``); 1-shot branch: ``map [V, T, C, H, W]`` (TTM-warped input), ``key``,
``query``, ``value [V, T, C]`` (``tc``), ``conv_s``, ``conv_q [V, T, H, W, 128]`` (channels-last)
and ``basis_q [V, 3T, H*W*128]`` (SC ``mask``/``grid``, decomposed); k-shot branch:
``m_shot_key``, ``m_ref_query [V, T, C]``, ``m_map = W_vm map`` and its query-side ``m_query``,
``m_value``, ``m_conv_q``, ``m_basis_q``. In training mode ``embed`` leaves out the SC
first-conv halves (``conv_s``, ``conv_q``, ``basis_q`` and their ``m_`` forms): a training
video serves one episode, so ``compare`` computes them on what each pair side needs, the
support half of a K-shot class on the mean of its shots (half the per-video convolutions at
1-shot, a sixth at 5-shot; :meth:`SCStage.complete_halves`).

Settings and every difference from the official code: :mod:`fsar_bench.methods.ta2n_config`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fsar_bench.errors import FsarError
from fsar_bench.methods.base import (
    EpisodeOutput,
    FewShotMethod,
    VideoState,
    class_order,
    frame_cosine_distance,
    group_by_label,
)
from fsar_bench.methods.protonet import LogitScale
from fsar_bench.methods.ta2n_config import TA2NConfig
from fsar_bench.methods.ta2n_modules import (
    JITTER_DIRECTIONS,
    LocalisationNet,
    OffsetNet,
    enumerate_shifts,
    frame_attention,
    pool_query,
    pool_support,
    temporal_warp,
)
from fsar_bench.methods.ta2n_sc import SCStage


class TA2N(SCStage, FewShotMethod):
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
        halves = not self.training  # training: ``compare`` adds them (SCStage.complete_halves)
        if one:
            state.update(self._side_state(x, support=True, prefix="", halves=halves))
        if multi:
            pooled = x.mean((-2, -1))
            state["m_shot_key"] = self.kshot_key(pooled)
            state["m_ref_query"] = self.kshot_query(pooled)
            xm = torch.einsum("dc,vtchw->vtdhw", self.kshot_value.weight, x)
            state.update(self._side_state(xm, support=False, prefix="m_", halves=halves))
        return state

    def _side_state(self, x: Tensor, support: bool, prefix: str, halves: bool) -> VideoState:
        """TC projections and (``halves``) SC first-conv halves of maps ``x [V, T, C, H, W]``."""
        cfg = self.config
        out = {"map": x}
        pooled = x.mean((-2, -1))
        if cfg.tc:
            out.update(query=self.tc_query(pooled), value=self.tc_value(pooled))
            if support:
                out["key"] = self.tc_key(pooled)
        if halves and self.offset_net is not None and cfg.sc_impl == "decomposed":
            out.update(self.sc_halves(x, out.get("value"), support=support, query=True))
        return {prefix + k: t for k, t in out.items()}

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
        if self.offset_net is not None and self.config.sc_impl == "decomposed":
            self.complete_halves(sup, qry)
        pair_extras: dict[str, Tensor] = {}
        dist = self._pair_distance(sup, qry, pair_extras)  # [E, Q, N or S], extras [E, Q, N, ...]
        if order is not None:
            dist, pair_extras = (class_order(x, order) for x in (dist, pair_extras))
        extras.update(pair_extras)
        if "ab" in support:
            extras.update(support_ab=support["ab"], query_ab=query["ab"])
        if self.config.return_extras:
            extras["query_embedding_before"] = query["input_pooled"]
            before = group_by_label(support["input_pooled"], support_labels, n_way)
            extras["prototype_before"] = before.mean(2)
        return EpisodeOutput(logits=self.logit_scale(-dist), extras=extras)

    def _prototypes(
        self, support: VideoState, labels: Tensor, n_way: int, extras: dict[str, Tensor]
    ) -> VideoState:
        """K-shot prototypes (official ``insupport_align``) and their TC support items."""
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
        return sup  # ``compare`` adds ``conv_s`` (SCStage.complete_halves)

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
            offsets = self._offsets(sup, qry, attn)
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

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        """Cross-entropy summed over each episode's queries, averaged over the ``E`` episodes.

        The official trainer divides one episode's summed CE by 16 and accumulates gradients
        over 16 episodes: a trainer accumulating single-episode calls divides each by
        ``config.accumulate_episodes``.
        """
        logits = output.logits
        ce = F.cross_entropy(logits.flatten(0, 1), query_labels.flatten(), reduction="sum")
        return ce / logits.shape[0]
