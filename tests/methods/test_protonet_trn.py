"""ProtoNet against a hand-written prototype computation; TRN++ subsets and order sensitivity."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.methods.protonet import ProtoNetConfig


def episode(seed: int, n_way: int = 3, shots: int = 2, n_query: int = 4, t: int = 8, d: int = 6):
    gen = torch.Generator().manual_seed(seed)
    support = torch.randn(1, n_way * shots, t, d, generator=gen, dtype=torch.float64)
    query = torch.randn(1, n_query, t, d, generator=gen, dtype=torch.float64)
    labels = torch.randperm(n_way * shots, generator=gen)[None] % n_way
    return support, labels, query


def hand_prototype_scores(support, labels, query, n_way: int, metric: str) -> list[list[float]]:
    """One episode, plain Python: mean over frames, mean over shots, cosine or -squared L2."""
    emb = [[sum(col) / len(col) for col in zip(*video, strict=True)] for video in support.tolist()]
    qemb = [[sum(col) / len(col) for col in zip(*video, strict=True)] for video in query.tolist()]
    protos = []
    for c in range(n_way):
        members = [e for e, y in zip(emb, labels.tolist(), strict=True) if y == c]
        protos.append([sum(v) / len(members) for v in zip(*members, strict=True)])
    out = []
    for q in qemb:
        row = []
        for p in protos:
            if metric == "cosine":
                dot = sum(a * b for a, b in zip(q, p, strict=True))
                row.append(dot / math.sqrt(sum(a * a for a in q) * sum(b * b for b in p)))
            else:
                row.append(-sum((a - b) ** 2 for a, b in zip(q, p, strict=True)))
        out.append(row)
    return out


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
@pytest.mark.parametrize("scale", [None, 7.5])
def test_protonet_matches_hand_computation(metric: str, scale: float | None) -> None:
    support, labels, query = episode(0)
    model = create_method("protonet", 6, metric=metric, scale=scale).double().eval()
    out = model.episodes(support, labels, query, 3)
    expected = torch.tensor(
        hand_prototype_scores(support[0], labels[0], query[0], 3, metric), dtype=torch.float64
    )
    torch.testing.assert_close(out.logits[0], expected * (scale or 1.0))
    assert out.extras["prototypes"].shape == (1, 3, 6)
    assert out.extras["query_embedding"].shape == (1, 4, 6)


def test_protonet_learned_scale_and_identity_adapter() -> None:
    support, labels, query = episode(1)
    model = create_method("protonet", 6, learn_scale=True).double()
    assert model.adapter.weight.detach().equal(torch.eye(6, dtype=torch.float64))
    out = model.episodes(support, labels, query, 3)
    expected = torch.tensor(
        hand_prototype_scores(support[0], labels[0], query[0], 3, "cosine"), dtype=torch.float64
    )
    torch.testing.assert_close(out.logits[0], 10.0 * expected)  # documented initial scale
    model.loss(out, torch.tensor([[0, 1, 2, 0]])).backward()
    assert model.logit_scale.learned.grad is not None
    with pytest.raises(FsarError, match="metric"):
        ProtoNetConfig(metric="manhattan")


def trn(**overrides):
    base = dict(num_frames=5, img_feature_dim=8, bottleneck=8, out_dim=4, dropout=0.0)
    return create_method("trn", 6, **{**base, **overrides}).double()


def test_trn_eval_is_deterministic_and_reproducible_from_seed() -> None:
    support, labels, query = episode(2, t=5)
    a, b = trn(), trn()
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    la = a.episodes(support, labels, query, 3).logits
    torch.testing.assert_close(la, a.episodes(support, labels, query, 3).logits, rtol=0, atol=0)
    torch.testing.assert_close(la, b.episodes(support, labels, query, 3).logits, rtol=0, atol=0)
    for s in range(5, 1, -1):  # same seed -> same fixed subsets, ordered, distinct
        subsets = getattr(a, f"eval_subsets_{s}")
        assert subsets.equal(getattr(trn(), f"eval_subsets_{s}"))
        assert subsets.shape == (min(3, math.comb(5, s)), s)
        assert bool((subsets[:, 1:] > subsets[:, :-1]).all())
        assert len({tuple(r) for r in subsets.tolist()}) == len(subsets)
    assert a.eval_subsets_5.tolist() == [[0, 1, 2, 3, 4]]


def test_trn_train_subsets_come_from_own_generator() -> None:
    videos = torch.randn(3, 5, 6, dtype=torch.float64)
    model = trn().train()
    global_state = torch.random.get_rng_state()
    model.generator.manual_seed(123)
    first = model.embed(videos)["embedding"]
    second = model.embed(videos)["embedding"]
    model.generator.manual_seed(123)
    again = model.embed(videos)["embedding"]
    assert torch.equal(torch.random.get_rng_state(), global_state)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.allclose(first, second)


def test_trn_embedding_equals_sum_of_scale_mlps() -> None:
    videos = torch.randn(2, 5, 6, dtype=torch.float64)
    model = trn().eval()
    x = model.reduce(model.adapter(videos))
    expected = torch.zeros(2, 4, dtype=torch.float64)
    for s, mlp in zip(range(5, 1, -1), model.mlps, strict=True):
        for subset in getattr(model, f"eval_subsets_{s}").tolist():
            expected += mlp(torch.cat([x[:, f] for f in subset], dim=-1))
    torch.testing.assert_close(model.embed(videos)["embedding"], expected)
    all_pairs = list(itertools.combinations(range(5), 2))
    assert model.combos_2.tolist() == [list(p) for p in all_pairs]


def test_trn_is_order_sensitive() -> None:
    videos = torch.randn(2, 5, 6, dtype=torch.float64)
    model = trn().eval()
    forward = model.embed(videos)["embedding"]
    backward = model.embed(videos.flip(1))["embedding"]
    assert not torch.allclose(forward, backward, atol=1e-6)


def test_trn_rejects_wrong_frame_count() -> None:
    with pytest.raises(FsarError, match="frames"):
        trn().embed(torch.randn(2, 4, 6, dtype=torch.float64))
