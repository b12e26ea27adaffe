"""Order sensitivity: queries reordered, supports untouched; an order-blind method is unchanged."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import toy_index
from fsar_bench.analysis.measures.order import frame_order, perturb_queries
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest
from fsar_bench.methods import create_method

T, D = 6, 8


def setup(seed: int = 0):
    index = toy_index(n_classes=5, per_class=4)
    spec = EpisodeSpec(dataset="toy", way=3, shot=1, query=2, episodes=20, frames=T, seed=seed)
    manifest = Manifest(spec=spec, data=json.loads(build_manifest(index, spec)), sha256="m")
    g = torch.Generator().manual_seed(seed)
    feats = {v.video_id: torch.randn(T, D, generator=g) for v in index.videos}
    return manifest, lambda ids: torch.stack([feats[i] for i in ids]).clone(), feats


def test_only_query_frames_are_reordered():
    manifest, load, feats = setup()
    renamed, pload = perturb_queries(manifest, load, "reverse")
    ep, orig = renamed.episodes[0], manifest.episodes[0]
    assert ep["support"] == orig["support"] and not orig["query"][0][0].endswith("#reverse")
    q = ep["query"][0][0]
    s = ep["support"][0][0]
    x = pload([q, s])
    assert torch.equal(x[0], feats[q.removesuffix("#reverse")].flip(0))
    assert torch.equal(x[1], feats[s])


def test_shuffle_is_a_seeded_permutation_per_video():
    a, b = frame_order("v1", 8, "shuffle"), frame_order("v1", 8, "shuffle")
    assert np.array_equal(a, b) and sorted(a) == list(range(8))
    others = [frame_order(f"v{k}", 8, "shuffle") for k in range(2, 6)]
    assert any(not np.array_equal(o, a) for o in others)  # not one fixed permutation
    with pytest.raises(ValueError):
        frame_order("v1", 8, "sideways")


@pytest.mark.parametrize("mode", ["reverse", "shuffle"])
def test_order_blind_protonet_is_unchanged_and_otam_is_not(mode):
    manifest, load, _ = setup()
    torch.manual_seed(0)
    proto = create_method("protonet", D)
    base = evaluate(proto, manifest, load, device="cpu").records
    renamed, pload = perturb_queries(manifest, load, mode)
    assert evaluate(proto, renamed, pload, device="cpu").records == base
    otam = create_method("otam", D)
    before = evaluate(otam, manifest, load, device="cpu").records
    after = evaluate(otam, renamed, pload, device="cpu").records
    assert [r["pred"] for r in after] != [r["pred"] for r in before]
