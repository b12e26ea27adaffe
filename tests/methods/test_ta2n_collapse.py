"""TA2N on frozen features: the official distance collapses, the centred one (``centre``) does not.

The features imitate frozen CNN maps: non-negative, a large mean shared by every video, a
per-video nuisance on all channels, and the class as a temporal pattern on a few channels (so the
raw cosine is near chance at initialisation). Trained with Adam, the official model pushes every
embedding towards one common vector: the cosine between different classes' aligned prototypes
rises and the logits of a query become equal (loss at chance). With ``centre`` (the prototypes'
mean subtracted before the cosine) a vector shared by all embeddings cannot move a logit.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fsar_bench.methods import create_method

C, T, HW, WAY = 256, 4, 2, 5
FIX = {"centre": True, "scale": 0.3, "learn_scale": True}


def _features(n_cls: int = 16, per: int = 8, signal: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """``[n_cls * per, T, C, HW, HW]`` non-negative maps and their labels."""
    g = torch.Generator().manual_seed(0)
    mean = 0.5 + torch.rand(C, generator=g)
    pattern = torch.randn(n_cls, T, signal, generator=g)
    labels = torch.arange(n_cls).repeat_interleave(per)
    video = mean * (1 + torch.randn(len(labels), 1, C, generator=g))  # [V, 1, C]
    x = video.expand(-1, T, -1).clone()
    x[..., :signal] += pattern[labels]
    x = x[..., None, None] + 0.3 * torch.randn(len(labels), T, C, HW, HW, generator=g)
    return x.clamp(min=0), labels


def _episodes(labels: torch.Tensor, e: int, g: torch.Generator) -> torch.Tensor:
    """Video indices ``[e, 2 * WAY]``: one support then one query per class, class-major."""
    n_cls = int(labels.max()) + 1
    out = []
    for _ in range(e):
        classes = torch.randperm(n_cls, generator=g)[:WAY]
        picks = [torch.nonzero(labels == c)[:, 0] for c in classes.tolist()]
        pairs = [p[torch.randperm(len(p), generator=g)[:2]] for p in picks]
        out.append(
            torch.cat([torch.stack([p[0] for p in pairs]), torch.stack([p[1] for p in pairs])])
        )
    return torch.stack(out)


def _probe(model, x: torch.Tensor, idx: torch.Tensor) -> tuple[float, float]:
    """Eval-mode logit spread (max - min over classes, mean over queries) and the mean cosine
    between different classes' aligned prototypes as the distance sees them (with ``centre``
    they are centred, so about -1 / (N - 1) by construction)."""
    model.eval()
    with torch.no_grad():
        b = x[idx]
        out = model.episodes(b[:, :WAY], torch.arange(WAY).expand(len(b), -1), b[:, WAY:], WAY)
    model.train()
    logits = out.logits
    spread = (logits.max(-1).values - logits.min(-1).values).mean()
    p = F.normalize(out.extras["prototype_after"], dim=-1)  # [E, Q, N, T, C]
    cos = torch.einsum("eqntc,eqmtc->eqtnm", p, p)[..., ~torch.eye(WAY, dtype=torch.bool)]
    return float(spread), float(cos.mean())


def _train(cfg: dict, steps: int = 20, e: int = 2) -> tuple[tuple, tuple]:
    torch.manual_seed(0)
    x, labels = _features()
    model = create_method("ta2n", C, reduce_channels=16, shots=1, return_extras=True, **cfg)
    g = torch.Generator().manual_seed(1)
    probe = _episodes(labels, 4, g)
    before = _probe(model, x, probe)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = torch.arange(WAY).expand(e, -1)
    for _ in range(steps):
        b = x[_episodes(labels, e, g)]
        out = model.episodes(b[:, :WAY], target, b[:, WAY:], WAY)
        opt.zero_grad()
        model.loss(out, target).backward()
        opt.step()
    return before, _probe(model, x, probe)


def test_official_distance_collapses_onto_a_common_vector():
    (spread0, cos0), (spread1, cos1) = _train({})
    assert cos1 > cos0 + 0.1  # different classes' prototypes become alike (0.77 -> 0.90)
    assert spread1 < 0.6 * spread0  # and a query's logits become equal (0.73 -> 0.35)


@pytest.mark.parametrize("cfg", [{"centre": True}, FIX], ids=["centre", "centre+scale"])
def test_centred_distance_keeps_the_logits_apart(cfg):
    (spread0, _), (spread1, _) = _train(cfg)
    assert spread1 > 0.85 * spread0


@pytest.mark.parametrize("k", [1, 3])
def test_centred_logits_ignore_a_vector_added_to_every_video(k):
    """Exact, with every stage off (attentions and nets would see the shift): a shift
    ``c [C]`` of all maps moves every compared vector by ``W c``, which the centring removes."""
    g = torch.Generator().manual_seed(2)
    sup = torch.randn(2, WAY * k, T, C, HW, HW, generator=g)
    qry = torch.randn(2, WAY, T, C, HW, HW, generator=g)
    labels = torch.arange(WAY).repeat(k).expand(2, -1)
    shift = 3 * torch.randn(C, 1, 1, generator=g)
    off = {"ttm": False, "tc": False, "sc": False, "kshot_align": False, "dropout": 0.0}
    for cfg, invariant in (({"centre": True}, True), ({}, False)):
        torch.manual_seed(0)
        m = create_method("ta2n", C, reduce_channels=16, **off, **cfg).eval()
        with torch.no_grad():
            a = m.episodes(sup, labels, qry, WAY).logits
            b = m.episodes(sup + shift, labels, qry + shift, WAY).logits
        assert torch.allclose(a, b, atol=1e-4) is invariant


def test_centred_distance_matches_a_hand_computation_with_stages_off():
    g = torch.Generator().manual_seed(3)
    sup = torch.randn(1, WAY * 2, T, 8, HW, HW, generator=g)
    qry = torch.randn(1, 3, T, 8, HW, HW, generator=g)
    labels = torch.arange(WAY).repeat(2)[None]
    off = {"ttm": False, "tc": False, "sc": False, "kshot_align": False, "dropout": 0.0}
    m = create_method("ta2n", 8, centre=True, scale=0.3, **off).eval()
    with torch.no_grad():
        got = m.episodes(sup, labels, qry, WAY).logits[0]
    p = torch.stack([sup[0, labels[0] == n].mean(0) for n in range(WAY)]).mean((-2, -1))
    mean = p.mean(0)  # [T, C]
    for i, q in enumerate(qry[0].mean((-2, -1))):
        for n in range(WAY):
            cos = F.cosine_similarity(p[n] - mean, q - mean, dim=-1)  # [T]
            assert abs(got[i, n] + 0.3 * (1 - cos).sum()) < 1e-5


def test_cpu_preset_uses_the_fix_and_paper_keeps_the_official_distance():
    from fsar_bench.engine.presets import method_settings
    from fsar_bench.methods import METHODS

    info = METHODS.get("ta2n")
    quick, paper = method_settings(info, "quick", {}), method_settings(info, "paper", {})
    assert (quick.centre, quick.scale, quick.learn_scale) == (True, 0.3, True)
    assert (paper.centre, paper.scale, paper.learn_scale) == (False, None, False)
    assert (quick.kshot_align, paper.kshot_align) == (False, True)
    user = method_settings(info, "quick", {"ta2n": {"centre": "false"}})
    assert not user.centre  # --set still wins over the preset
