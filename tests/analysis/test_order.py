"""Order sensitivity: queries reordered, supports untouched; an order-blind method is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toys import order_setup

from fsar_bench.analysis.measures.order import frame_order, perturb_queries
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.methods import create_method

T, D = 6, 8


def test_only_query_frames_are_reordered():
    manifest, load, feats = order_setup()
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
    manifest, load, _ = order_setup()
    torch.manual_seed(0)
    proto = create_method("protonet", D)
    base = evaluate(proto, manifest, load, device="cpu").records
    renamed, pload = perturb_queries(manifest, load, mode)
    assert evaluate(proto, renamed, pload, device="cpu").records == base
    otam = create_method("otam", D)
    before = evaluate(otam, manifest, load, device="cpu").records
    after = evaluate(otam, renamed, pload, device="cpu").records
    assert [r["pred"] for r in after] != [r["pred"] for r in before]
