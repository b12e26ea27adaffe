"""The interface every few-shot method implements.

Notation: ``E`` episodes in a batch, ``N`` ways, ``K`` shots, ``S = N * K`` support videos,
``Q`` query videos, ``T`` frames per video, ``D`` pooled feature size, ``C, H, W`` a spatial map.

Input kinds (``FewShotMethod.input_kind``):

* ``"pooled"``: a video is ``[T, D]`` (the spatial map averaged over ``H, W``);
* ``"spatial"``: a video is ``[T, C, H, W]`` (pre-pool backbone maps, as TA2N needs).

A method works in two stages so that per-video work happens once per video, not once per episode:

1. :meth:`FewShotMethod.embed` maps a batch of videos ``[V, T, ...]`` to a *video state*: a dict of
   tensors that all have leading dimension ``V`` (e.g. TA2N's warped maps and projections).
2. :meth:`FewShotMethod.compare` takes states gathered per episode (leading ``[E, S]`` for the
   support, ``[E, Q]`` for the queries) and the support labels ``[E, S]`` (values ``0..N-1``) and
   returns an :class:`EpisodeOutput` with logits ``[E, Q, N]`` and an ``extras`` dict.

``extras`` is the documented window for analysis code (alignment matrices, warp parameters,
offsets, embeddings); analysis never reaches into a method's modules. Each method's docstring lists
its keys and shapes.

The evaluation loop passes ``compare`` states that gather a key on first access
(:func:`gather_state` with ``lazy=True``): a ``compare`` should read only the keys it needs, and
may return ``extras`` as a :class:`Lazy` mapping so that values nobody reads (evaluation without
``keep_extras``) are never computed.

The easyfsl-style two-phase API is a thin layer on top: ``process_support_set(support, labels)``,
then ``forward(query) -> EpisodeOutput``; both accept one episode (no ``E`` axis) or a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

VideoState = dict[str, Tensor]


@dataclass(kw_only=True)
class EpisodeOutput:
    """What :meth:`FewShotMethod.compare` returns.

    Attributes:
        logits: ``[E, Q, N]`` class scores (higher is better).
        extras: named tensors for analysis; keys and shapes are listed by each method.
    """

    logits: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


def gather_state(state: VideoState, index: Tensor, lazy: bool = False) -> VideoState:
    """Select videos from a state: ``state[k]: [V, ...]``, ``index: [E, S]`` -> ``[E, S, ...]``.

    ``lazy=True`` returns a :class:`Lazy` mapping that gathers a key on first access, so a
    ``compare`` pays only for the keys it reads (the evaluation loop uses it).
    """
    if lazy:
        return Lazy({k: partial(_take, v, index) for k, v in state.items()})
    return {k: _take(v, index) for k, v in state.items()}


def _take(x: Tensor, index: Tensor) -> Tensor:
    """``x[index]`` for ``x [V, ...]`` and ``index [E, S]``: ``index_select`` on the flat
    index, the same copy faster than advanced indexing on the CPU (``docs/performance.md``)."""
    return x.index_select(0, index.reshape(-1)).view(*index.shape, *x.shape[1:])


class Lazy(Mapping):
    """A read-only mapping whose values are computed on first access by zero-argument functions.

    ``key in lazy``, ``len`` and iteration do not compute values.
    """

    def __init__(self, makers: dict[str, Callable[[], Tensor]]) -> None:
        self._makers = makers
        self._values: dict[str, Tensor] = {}

    def __getitem__(self, key: str) -> Tensor:
        if key not in self._values:
            self._values[key] = self._makers[key]()
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        return key in self._makers

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)


def group_by_label(x: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Arrange support items by class: ``x: [E, S, ...]``, ``labels: [E, S]`` -> ``[E, N, K, ...]``.

    Shots keep their order within a class (stable sort), so "the first shot" of class ``n`` is
    the first support item whose label is ``n``. Every class must have the same number of shots.
    Labels that are already sorted give a view of ``x`` (no copy).
    """
    e, s = labels.shape
    if s % n_way:
        raise ValueError(f"{s} support items cannot form {n_way} classes of equal size")
    if bool((labels[:, 1:] >= labels[:, :-1]).all()):  # already class-major (manifests): a view
        return x.reshape(e, n_way, s // n_way, *x.shape[2:])
    order = torch.sort(labels, dim=1, stable=True).indices  # [E, S]
    idx = order.reshape(e, s, *([1] * (x.dim() - 2))).expand(e, s, *x.shape[2:])
    return torch.gather(x, 1, idx).reshape(e, n_way, s // n_way, *x.shape[2:])


def class_mean(scores: Tensor, labels: Tensor, n_way: int) -> Tensor:
    """Average per-support scores over each class's shots: ``[E, Q, S]`` -> ``[E, Q, N]``."""
    onehot = F.one_hot(labels, n_way).to(scores.dtype)  # [E, S, N]
    return scores @ onehot / onehot.sum(1, keepdim=True)


class FewShotMethod(nn.Module):
    """Base class: subclasses set ``input_kind`` and implement ``embed`` and ``compare``."""

    input_kind: ClassVar[str] = "pooled"

    def embed(self, videos: Tensor) -> VideoState:
        """Per-video work: ``[V, T, D]`` or ``[V, T, C, H, W]`` -> state with leading ``V``."""
        return {"x": videos}

    def compare(
        self, support: VideoState, support_labels: Tensor, query: VideoState, n_way: int
    ) -> EpisodeOutput:
        """Score queries against the support: states ``[E, S, ...]``, ``[E, Q, ...]``."""
        raise NotImplementedError

    def loss(self, output: EpisodeOutput, query_labels: Tensor) -> Tensor:
        """Training loss; default cross-entropy averaged over all queries ``[E, Q]``."""
        logits = output.logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), query_labels.reshape(-1))

    # --- convenience: whole episodes from raw features -------------------------------------
    def episodes(
        self, support: Tensor, support_labels: Tensor, query: Tensor, n_way: int | None = None
    ) -> EpisodeOutput:
        """Score batched episodes: support ``[E, S, T, ...]``, query ``[E, Q, T, ...]``."""
        e, s = support.shape[:2]
        q = query.shape[1]
        n_way = int(support_labels.max()) + 1 if n_way is None else n_way
        videos = torch.cat([support.flatten(0, 1), query.flatten(0, 1)])
        state = self.embed(videos)
        idx = torch.arange(e * (s + q), device=videos.device)
        sup_idx = idx[: e * s].reshape(e, s)
        qry_idx = idx[e * s :].reshape(e, q)
        return self.compare(
            gather_state(state, sup_idx), support_labels, gather_state(state, qry_idx), n_way
        )

    def process_support_set(self, support: Tensor, support_labels: Tensor) -> None:
        """Store one episode's (``[S, T, ...]``) or a batch's (``[E, S, T, ...]``) support set."""
        batched = support_labels.dim() == 2
        self._support = support if batched else support.unsqueeze(0)
        self._support_labels = support_labels if batched else support_labels.unsqueeze(0)
        self._batched = batched

    def forward(self, query: Tensor) -> EpisodeOutput:
        """Queries ``[Q, T, ...]`` -> logits ``[Q, N]`` (or ``[E, Q, T, ...]`` -> ``[E, Q, N]``)."""
        if not hasattr(self, "_support"):
            raise RuntimeError("call process_support_set() before forward()")
        q = query if self._batched else query.unsqueeze(0)
        out = self.episodes(self._support, self._support_labels, q)
        if not self._batched:
            out = EpisodeOutput(
                logits=out.logits[0], extras={k: v[0] for k, v in out.extras.items()}
            )
        return out


def frame_cosine_distance(s: Tensor, q: Tensor) -> Tensor:
    """``sum_t (1 - cos(s_t, q_t))``: ``[..., T, C]`` x ``[..., T, C]`` -> ``[...]``."""
    return (1 - (F.normalize(s, dim=-1) * F.normalize(q, dim=-1)).sum(-1)).sum(-1)


def class_order(x, order: Tensor):
    """Reorder axis 2 (support position) into class order, ``order [E, N]``; maps over dicts."""
    if isinstance(x, dict):
        return {k: class_order(v, order) for k, v in x.items()}
    index = order.view(order.shape[0], 1, order.shape[1], *[1] * (x.dim() - 3))
    return x.gather(2, index.expand(x.shape[0], x.shape[1], -1, *x.shape[3:]))
