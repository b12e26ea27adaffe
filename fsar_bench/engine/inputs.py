"""What a run reads: the videos that have features, seeded manifests, feature loaders."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from fsar_bench.data.index import SplitIndex
from fsar_bench.episodes.manifest import (
    EpisodeSpec,
    Manifest,
    build_manifest,
    load_manifest,
    parse_manifest,
    write_manifest,
)
from fsar_bench.errors import FsarError
from fsar_bench.features.cache import FeatureStore
from fsar_bench.results.store import config_hash


def usable(index: SplitIndex, store: FeatureStore) -> SplitIndex:
    """The split restricted to videos that have features (failures are listed by the store)."""
    return dataclasses.replace(index, videos=[v for v in index.videos if v.video_id in store])


def manifest_for(
    index: SplitIndex, spec: EpisodeSpec, folder: Path, *, write: bool = True
) -> Manifest:
    """Draw (or reuse) the manifest of ``spec``; its file name carries the hash of the spec, the
    split list's bytes and its classes (a changed list or held-out classes: another file). A
    file that does not parse (torn, emptied) is drawn again, never trusted. ``write=False``: a
    manifest not drawn yet is drawn in memory only (``path`` ``None``)."""
    key = {
        **dataclasses.asdict(spec),
        "list": index.split.sha256,
        "classes": list(index.split.classes),
    }
    name = f"{spec.split}-{spec.way}w{spec.shot}s-{config_hash(key)}.json"
    path = folder / name
    if path.is_file():
        try:
            return load_manifest(path)
        except FsarError:  # torn or garbage: drawn again (the same seeded bytes)
            pass
    if not write:
        return parse_manifest(build_manifest(index, spec))
    write_manifest(build_manifest(index, spec), path)
    return load_manifest(path)


def feature_loader(store: FeatureStore, pooled: bool):
    """``load(ids)``: the test-time clip's features of each video (evaluation loaders;
    training reads through :class:`~fsar_bench.features.bank.FeatureBank`)."""

    def load(ids: list[str]) -> torch.Tensor:
        return store.get(ids, pooled=pooled)

    return load
