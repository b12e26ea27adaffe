"""Query embeddings and prototypes before and after alignment (TA2N Fig. 8), from ``extras``.

Analysis reads what a method exposes; it never reaches into its modules. TA2N
(:mod:`fsar_bench.methods.ta2n`, built with ``return_extras=True``) documents the keys used here:
``query_embedding_before [E, Q, T, C]``, ``prototype_before [E, N, T, C]``,
``query_embedding_after`` and ``prototype_after [E, Q, N, T, C]``.
"""

from __future__ import annotations

import numpy as np
import torch
from safetensors import SafetensorError

from fsar_bench.errors import FsarError
from fsar_bench.results.summary import RunSummary

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


def method_from_run(summary: RunSummary, channels: int, extras: bool = True):
    """The trained method of a finished run, built with ``return_extras=True`` (``extras``).

    Rebuilt from the run's own record: its resolved method config and the checkpoint of its
    validation-selected weights (no ``--set`` needs repeating).

    Args:
        summary: the run (``fsar-bench run`` writes it).
        channels: ``C`` (spatial) or ``D`` (pooled) of the features it was trained on.
        extras: build it with ``return_extras=True`` (methods without that field raise);
            ``False``: exactly as recorded (any method; order sensitivity).
    """
    from safetensors.torch import load_file

    from fsar_bench.methods import create_method

    config = dict(summary.method_config)
    if extras and "return_extras" not in config:
        raise FsarError(
            f"{summary.method} exposes no embeddings before and after alignment (ta2n does)"
        )
    entry = _installed(summary)
    if extras:
        config["return_extras"] = True
    method = create_method(entry.name, channels, **config)
    try:
        method.load_state_dict(load_file(summary.checkpoint))
    except (OSError, RuntimeError, SafetensorError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FsarError(
            f"{summary.checkpoint} does not fit {summary.method} on {channels}-channel features: "
            f"{first}; was the run's checkpoint folder removed from the cache?"
        ) from err
    return method


def _installed(summary: RunSummary):
    """The registry entry of a run's method: a built-in, an installed entry point or an
    import path given on this command line (``--methods package.module:Class``). Nothing a
    summary names is imported: a results folder cannot run its own code."""
    from fsar_bench.methods import METHODS

    entry = METHODS.known(summary.method)
    if entry is None:
        given = summary.method_factory or summary.method
        raise FsarError(
            f"{summary.dir}: method {summary.method!r} ({summary.method_origin}) is not "
            f"installed here, and code named by results is never imported; install its "
            f"package, or give profile --methods {given} if you trust it"
        )
    if summary.method_factory and entry.factory != summary.method_factory:
        raise FsarError(
            f"{summary.dir} was made by {summary.method_factory}, but {summary.method!r} is "
            f"{entry.factory} here; install the package that made it"
        )
    return entry


def alignment_panels(method, store, index, spec, device: torch.device | str = "cpu") -> dict:
    """Draw ``spec``'s test episodes, run ``method`` and return :func:`alignment_points`.

    Args:
        method: from :func:`method_from_run`.
        store: the test split's feature store.
        index: the test split's index.
        spec: an :class:`~fsar_bench.episodes.manifest.EpisodeSpec` of the test split.
        device: where to run.
    """
    from fsar_bench.engine.evaluate import evaluate
    from fsar_bench.engine.inputs import feature_loader, usable
    from fsar_bench.episodes.manifest import build_manifest, parse_manifest

    manifest = parse_manifest(build_manifest(usable(index, store), spec))
    load = feature_loader(store, pooled=method.input_kind == "pooled")
    result = evaluate(method, manifest, load, device=device, keep_extras=True)
    labels = torch.as_tensor(manifest.arrays()[3])
    names = [ep["classes"] for ep in manifest.episodes]
    return alignment_points(result.extras, labels, names)
