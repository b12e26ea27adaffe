"""Query embeddings and prototypes before and after alignment (TA2N Fig. 8), from ``extras``.

Analysis reads what a method exposes; it never reaches into its modules. TA2N
(:mod:`fsar_bench.methods.ta2n`, built with ``return_extras=True``) documents the keys used here:
``query_embedding_before [E, Q, T, C]``, ``prototype_before [E, N, T, C]``,
``query_embedding_after`` and ``prototype_after [E, Q, N, T, C]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from fsar_bench.episodes.manifest import Manifest
from fsar_bench.errors import FsarError

ALIGNMENT_KEYS = (
    "query_embedding_before",
    "prototype_before",
    "query_embedding_after",
    "prototype_after",
)


def _flat(x: torch.Tensor) -> np.ndarray:
    """``[..., T, C]`` -> ``[..., T * C]``, each frame scaled to unit length first."""
    return torch.nn.functional.normalize(x.double(), dim=-1).flatten(-2).numpy()


def alignment_points(
    extras: dict[str, torch.Tensor], query_labels: torch.Tensor, class_names: list[list[str]]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Query embeddings and prototypes before and after alignment (TA2N Fig. 8).

    Reads the documented ``extras`` of :mod:`fsar_bench.methods.ta2n` (built with
    ``return_extras=True``): ``query_embedding_before [E, Q, T, C]``, ``prototype_before
    [E, N, T, C]``, ``query_embedding_after`` and ``prototype_after [E, Q, N, T, C]`` (the
    aligned pair of every query and class). "After" takes each query aligned to its own class,
    and a class's prototype averaged over its queries' aligned versions. Each item is the
    concatenation of its ``T`` frames scaled to unit length, so the squared Euclidean distance
    between two items is twice TA2N's frame-wise cosine distance.

    Args:
        extras: the method's extras for ``E`` episodes.
        query_labels: ``[E, Q]`` labels ``0 .. N-1``.
        class_names: ``[E][N]`` class keys of each episode.

    Returns:
        ``{"before": ..., "after": ...}``, each ``(features [P, T*C], classes [P], kinds [P])``
        with queries first, then prototypes.
    """
    missing = [k for k in ALIGNMENT_KEYS if k not in extras]
    if missing:
        raise FsarError(
            f"the method's extras lack {', '.join(missing)}; only methods that expose embeddings "
            "before and after alignment (TA2N with return_extras=True) can be plotted"
        )
    labels = query_labels.long()
    e, q = labels.shape
    n = len(class_names[0])
    after = extras["query_embedding_after"]  # [E, Q, N, T, C]
    pick = labels[:, :, None, None, None].expand(e, q, 1, *after.shape[3:])
    q_after = after.gather(2, pick)[:, :, 0]  # [E, Q, T, C]
    member = torch.nn.functional.one_hot(labels, n).to(after.dtype)  # [E, Q, N]
    p_after = torch.einsum("eqn,eqntc->entc", member, extras["prototype_after"])
    p_after = p_after / member.sum(1)[..., None, None]  # [E, N, T, C]
    names = np.array(class_names)  # [E, N]
    classes = np.concatenate([names[np.arange(e)[:, None], labels.numpy()].ravel(), names.ravel()])
    kinds = np.array(["query"] * (e * q) + ["prototype"] * (e * n))
    out = {}
    for name, qx, px in (
        ("before", extras["query_embedding_before"], extras["prototype_before"]),
        ("after", q_after, p_after),
    ):
        feats = np.concatenate([_flat(qx).reshape(e * q, -1), _flat(px).reshape(e * n, -1)])
        out[name] = (feats, classes, kinds)
    return out


@torch.no_grad()
def episode_extras(
    method: torch.nn.Module,
    manifest: Manifest,
    load: Callable[[list[str]], torch.Tensor],
    device: torch.device | str = "cpu",
) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[list[str]]]:
    """Run ``method`` (eval mode) on every episode of ``manifest`` and gather its extras.

    Args:
        method: a :class:`~fsar_bench.methods.base.FewShotMethod`.
        manifest: the episodes.
        load: video ids -> float32 features ``[V, T, ...]`` in the method's input kind.
        device: where to run.

    Returns:
        ``(extras, query_labels [E, Q], class_names [E][N])``, extras concatenated over episodes.
    """
    method.eval().to(device)
    sup, sup_lab, qry, qry_lab = manifest.arrays()
    parts: list[dict[str, torch.Tensor]] = []
    for s_ids, s_lab, q_ids in zip(sup, sup_lab, qry):
        x_s, x_q = load(s_ids).to(device), load(q_ids).to(device)
        labels = torch.as_tensor(s_lab, device=device)[None]
        out = method.episodes(x_s[None], labels, x_q[None], manifest.spec.way)
        parts.append({k: v.float().cpu() for k, v in out.extras.items()})
    extras = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    names = [ep["classes"] for ep in manifest.episodes]
    return extras, torch.as_tensor(qry_lab), names


def load_method(name: str, channels: int, checkpoint: Path, sets: dict[str, str]):
    """A registered method with ``return_extras=True`` and the weights of ``checkpoint``.

    Args:
        name: registry name; its config must have ``return_extras`` (TA2N).
        channels: ``C`` (spatial) or ``D`` (pooled) of the features it was trained on.
        checkpoint: a ``best.safetensors`` written by the trainer.
        sets: raw ``FIELD -> VALUE`` overrides of the method's config (as in training).
    """
    from safetensors.torch import load_file

    from fsar_bench.engine.overrides import apply
    from fsar_bench.methods import create_method, method_config

    config = apply(method_config(name), sets, name)
    if not hasattr(config, "return_extras"):
        raise FsarError(f"{name} exposes no embeddings before and after alignment (ta2n does)")
    method = create_method(name, channels, **{**asdict(config), "return_extras": True})
    try:
        method.load_state_dict(load_file(str(checkpoint)))
    except (OSError, RuntimeError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FsarError(
            f"{checkpoint} does not fit {name} on {channels}-channel features: {first}"
        ) from err
    return method


def alignment_panels(method, store, index, spec, device: torch.device | str = "cpu") -> dict:
    """Draw ``spec``'s test episodes, run ``method`` and return :func:`alignment_points`.

    Args:
        method: from :func:`load_method`.
        store: the test split's feature store.
        index: the test split's index.
        spec: an :class:`~fsar_bench.episodes.manifest.EpisodeSpec` of the test split.
        device: where to run.
    """
    from fsar_bench.engine.run import feature_loader, usable
    from fsar_bench.episodes.manifest import build_manifest

    raw = build_manifest(usable(index, store), spec)
    manifest = Manifest(spec, json.loads(raw), hashlib.sha256(raw).hexdigest())
    load = feature_loader(store, pooled=method.input_kind == "pooled")
    extras, labels, names = episode_extras(method, manifest, lambda ids: load(ids), device)
    return alignment_points(extras, labels, names)
