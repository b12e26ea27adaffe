"""TA2N: oracle tests against slow, obvious re-computations of the official pipeline."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.methods.base import EpisodeOutput, gather_state
from fsar_bench.methods.ta2n_modules import (
    JITTER_DIRECTIONS,
    LocalisationNet,
    OffsetNet,
    axis_grid,
    axis_mask,
    pooling_weights,
    temporal_warp,
)

C, T, H, W = 8, 8, 4, 4


def _model(**cfg):
    torch.manual_seed(0)
    m = create_method("ta2n", C, dropout=0.0, **cfg)
    with torch.no_grad():  # move off the zero-initialised start so every path is exercised
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm3d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.normal_(1, 0.1)
        if m.locnet is not None:
            m.locnet.fc2.weight.normal_(0, 0.5)
        if m.offset_net is not None:
            m.offset_net.fc2.weight.normal_(0, 1.0)
    return m.eval()


def _episode(e=2, n=3, k=1, q=2, seed=1, h=H, w=W):
    g = torch.Generator().manual_seed(seed)
    sup = torch.randn(e, n * k, T, C, h, w, generator=g)
    # shot-major, and the class order differs per episode (never sorted by label)
    labels = torch.stack([torch.roll(torch.arange(n), i + 1).repeat(k) for i in range(e)])
    qry = torch.randn(e, n * q, T, C, h, w, generator=g)
    return sup, labels, qry, n


def _class_mean(x, labels, n):
    """``x [E, S, ...]`` averaged over each class's shots: ``[E, N, ...]``, by a plain loop."""
    return torch.stack(
        [torch.stack([x[i, labels[i] == c].mean(0) for c in range(n)]) for i in range(len(x))]
    )


def _interp(x, src):
    """Hand-written linear interpolation along time with zeros outside: ``x [T, F]``."""
    pos = (src + 1) / 2 * (x.shape[0] - 1)
    out = torch.zeros(len(src), x.shape[1])
    for i, p in enumerate(pos.tolist()):
        lo = math.floor(p)
        for j, wgt in ((lo, lo + 1 - p), (lo + 1, p - lo)):
            if 0 <= j < x.shape[0]:
                out[i] += wgt * x[j]
    return out


def _cell_mask(o, size):
    """Official SC mask per cell, written out: ``o`` a float -> ``[size]``."""
    vals = []
    for i in range(size):
        g = -1 + 2 * i / (size - 1) + o
        vals.append(1.0 if abs(g) < 1 else max(0.0, 1 - (abs(g) - 1) * (size - 1) / 2))
    return torch.tensor(vals)


def _official(m, sup, labels, qry, n):
    """Slow per-pair re-computation of the official forward for one episode: logits ``[Q, N]``."""
    lin = lambda layer, x: x @ layer.weight.T  # noqa: E731  (Conv1d k=1 == Linear)
    ab = m.locnet(torch.cat([sup, qry]).transpose(1, 2))
    warp = [
        _interp(v.flatten(1), a * torch.linspace(-1, 1, T) + b).view(v.shape)
        for v, (a, b) in zip(torch.cat([sup, qry]), ab)
    ]
    sup, qry = torch.stack(warp[: len(sup)]), torch.stack(warp[len(sup) :])
    k = len(sup) // n
    protos = []
    for c in range(n):
        shots = sup[labels == c]  # [K, T, C, H, W] in support order
        if k == 1:
            protos.append(shots[0])
            continue
        ref = lin(m.kshot_query, shots[0].mean((-2, -1)))
        recon = 0
        for s in shots:
            att = (lin(m.kshot_key, s.mean((-2, -1))) @ ref.T / math.sqrt(C)).softmax(0)
            val = torch.einsum("dc,tchw->tdhw", m.kshot_value.weight, s)
            recon = recon + torch.einsum("xy,xchw->ychw", att, val) / k
        protos.append(recon)
    if k > 1:
        qry = torch.einsum("dc,vtchw->vtdhw", m.kshot_value.weight, qry)
    pairs, s_full, q_full = [], [], []
    for qv in qry:
        for pv in protos:
            att = lin(m.tc_key, pv.mean((-2, -1))) @ lin(m.tc_query, qv.mean((-2, -1))).T
            res = att.div(math.sqrt(C)).softmax(1) @ lin(m.tc_value, qv.mean((-2, -1)))
            s_full.append(pv + lin(m.tc_value, pv.mean((-2, -1)))[..., None, None])
            q_full.append(qv + res[..., None, None])
            pairs.append(torch.cat([s_full[-1], q_full[-1]], 1).transpose(0, 1))
    net = m.offset_net  # its layers, applied one by one (full Conv3d with bias)
    x = F.relu(F.max_pool3d(net.bn1(net.conv1(torch.stack(pairs))), (1, 2, 2)))
    x = F.relu(F.max_pool3d(net.bn2(net.conv2(x)), (1, 2, 2))).amax((-2, -1))
    offsets = 0.75 * torch.tanh(net.fc2(F.relu(net.fc1(x)))).transpose(1, 2)  # [Q*N, T, 2]
    logits = torch.zeros(len(qry) * n)
    for p, off in enumerate(offsets):
        for t, (ox, oy) in enumerate(off.tolist()):
            masks = []
            for sign in (1, -1):
                ms = [
                    torch.outer(
                        _cell_mask(sign * (oy + jy * 0.2), H), _cell_mask(sign * (ox + jx * 0.2), W)
                    )
                    for jx, jy in JITTER_DIRECTIONS
                ]
                masks.append(torch.stack([mk / mk.sum() for mk in ms]).mean(0))
            s_vec = (masks[0] * s_full[p][t]).sum((-2, -1))
            q_vec = (masks[1] * q_full[p][t]).sum((-2, -1))
            logits[p] -= 1 - F.cosine_similarity(s_vec, q_vec, dim=0)
    return logits.view(len(qry), n)


@pytest.mark.parametrize("k", [1, 2])
def test_matches_slow_official_recomputation(k):
    m = _model()
    sup, labels, qry, n = _episode(e=1, k=k)
    with torch.no_grad():
        got = m.episodes(sup, labels, qry, n).logits[0]
        want = _official(m, sup[0], labels[0], qry[0], n)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_ttm_starts_at_tanh2_zero_and_unit_warp_is_identity():
    ab = LocalisationNet(C).eval()(torch.randn(5, C, T, H, W))
    torch.testing.assert_close(ab, torch.tensor([[math.tanh(2.0), 0.0]]).expand(5, 2))
    x = torch.randn(3, T, 20)
    torch.testing.assert_close(temporal_warp(x, torch.tensor([[1.0, 0.0]]).expand(3, 2)), x)


def test_warp_is_linear_interpolation_with_zero_padding():
    x = torch.randn(4, T, 6)
    ab = torch.tensor([[0.9, 0.05], [0.5, -0.3], [0.8, 0.6], [-0.7, 0.4]])  # some leave [-1, 1]
    got = temporal_warp(x, ab)
    for v in range(4):
        want = _interp(x[v], ab[v, 0] * torch.linspace(-1, 1, T) + ab[v, 1])
        torch.testing.assert_close(got[v], want)


def test_tc_attention_is_row_stochastic_and_residual():
    m = _model(ttm=False, sc=False, return_extras=True)
    sup, labels, qry, n = _episode()
    with torch.no_grad():
        out = m.episodes(sup, labels, qry, n)
    attn = out.extras["tc_attention"]  # [E, Q, N, T, T]
    torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:-1]))
    pq = qry.mean((-2, -1))  # [E, Q, T, C]
    want_q = pq[:, :, None] + attn @ m.tc_value(pq)[:, :, None]
    torch.testing.assert_close(out.extras["query_embedding_after"], want_q, atol=1e-5, rtol=1e-5)
    ps = _class_mean(sup.mean((-2, -1)), labels, n)
    want_s = (ps + m.tc_value(ps))[:, None].expand_as(want_q)
    torch.testing.assert_close(out.extras["prototype_after"], want_s, atol=1e-5, rtol=1e-5)


def test_axis_mask_matches_the_cellwise_formula():
    for o in (-0.95, -0.4, 0.0, 0.13, 0.75):
        for size in (4, 7):
            torch.testing.assert_close(axis_mask(torch.tensor(o), size), _cell_mask(o, size))


def test_zero_offset_without_jitter_pools_uniformly_and_weights_sum_to_one():
    for design in ("mask", "grid"):
        uniform = pooling_weights(torch.zeros(1, 1, 2), H, W + 1, design)
        torch.testing.assert_close(uniform, torch.full((1, H, W + 1), 1 / (H * (W + 1))))
        jit = 0.2 * torch.tensor(JITTER_DIRECTIONS).float()
        off = 0.75 * torch.tanh(torch.randn(5, T, 1, 2)) + jit  # [5, T, 9, 2]
        wts = pooling_weights(off, H, W, design)
        torch.testing.assert_close(wts.sum((-2, -1)), torch.ones(5, T))


def test_negated_offsets_give_the_flipped_weights():
    """``SCStage._weights`` takes the query's (``-offset``) weights as the support's flipped."""
    jit = 0.2 * torch.tensor(JITTER_DIRECTIONS).float()
    off = 0.75 * torch.tanh(torch.randn(50, T, 1, 2)) + jit
    for design in ("mask", "grid"):
        for hw in ((4, 4), (7, 7), (3, 5), (1, 2)):
            want = pooling_weights(-off, *hw, design)
            torch.testing.assert_close(pooling_weights(off, *hw, design).flip(-2, -1), want)


def test_grid_design_equals_grid_sample_resampling_of_the_overlap():
    o = torch.tensor([0.3, -0.55])  # (x, y)
    x_map = torch.randn(1, 3, H, W)
    lo, hi = (-1 - o).clamp(min=-1), (1 - o).clamp(max=1)
    xs = torch.linspace(lo[0], hi[0], W)
    ys = torch.linspace(lo[1], hi[1], H)
    grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1)[None]  # [1, H, W, (x, y)]
    want = F.grid_sample(x_map, grid, align_corners=True).mean((-2, -1))
    wts = axis_grid(o[1], H)[:, None] * axis_grid(o[0], W)[None]
    torch.testing.assert_close((wts * x_map).sum((-2, -1)), want)


def test_broadcast_response_equals_conv_of_broadcast_residual():
    """``conv_q`` of the broadcast TC residual, channels-last, from the per-video basis."""
    net = OffsetNet(C)
    attn = torch.rand(2, 3, 4, T, T).softmax(-1)
    v = torch.randn(2, 3, T, C)
    for h, w in ((4, 4), (3, 5), (1, 2)):
        basis = net.broadcast_basis(v.flatten(0, 1), h, w).unflatten(0, (2, 3))
        got = net.add_broadcast_response_(torch.zeros(2, 3, 4, T, h, w, 128), attn, basis)
        r = (
            (attn @ v[:, :, None])
            .expand(2, 3, 4, T, C)[..., None, None]
            .expand(-1, -1, -1, -1, -1, h, w)
        )
        want = net.half_conv(r.flatten(0, 2).transpose(1, 2), 1).unflatten(0, (2, 3, 4))
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("k", [1, 2])
def test_decomposed_sc_equals_naive_pair_concatenation(train, k):
    fast, slow = _model(), _model(sc_impl="naive")
    slow.load_state_dict(fast.state_dict())
    fast.train(train)
    slow.train(train)
    sup, labels, qry, n = _episode(k=k)
    a, b = fast.episodes(sup, labels, qry, n), slow.episodes(sup, labels, qry, n)
    torch.testing.assert_close(a.extras["sc_offsets"], b.extras["sc_offsets"], atol=1e-5, rtol=0)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-5, rtol=1e-5)
    if train:  # same batch statistics
        torch.testing.assert_close(
            fast.offset_net.bn1.running_mean, slow.offset_net.bn1.running_mean
        )


@pytest.mark.parametrize("kshot_align", [False, True])
@pytest.mark.parametrize("k", [1, 3])
def test_training_defers_the_first_conv_halves_to_the_pair_sides(k, kshot_align):
    """Training: ``compare`` convolves supports (or shot means) and queries only; the values and
    gradients equal those of halves computed for every embedded video (float64)."""
    m = _model(kshot_align=kshot_align).double().train()
    sup, labels, qry, n = _episode(k=k)
    sup, qry = sup.double(), qry.double()
    prefix = "m_" if k > 1 and kshot_align else ""
    videos = torch.cat([sup.flatten(0, 1), qry.flatten(0, 1)]).requires_grad_()
    (e, s), q = labels.shape, qry.shape[1]
    sup_idx, qry_idx = torch.arange(e * s).view(e, s), e * s + torch.arange(e * q).view(e, q)

    def run(per_video: bool):
        state = m.embed(videos)
        assert (prefix + "conv_q" in state) is False
        if per_video:  # the evaluation layout: both halves of every video
            state.update(m._side_state(state[prefix + "map"], not prefix, prefix, halves=True))
        out = m.compare(gather_state(state, sup_idx), labels, gather_state(state, qry_idx), n)
        (grad,) = torch.autograd.grad(out.logits.square().sum(), videos)
        return out, grad

    (fast, g_fast), (slow, g_slow) = run(False), run(True)
    torch.testing.assert_close(fast.logits, slow.logits, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(fast.extras["sc_offsets"], slow.extras["sc_offsets"])
    torch.testing.assert_close(g_fast, g_slow, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("k", [1, 3])
def test_all_toggles_off_is_framewise_cosine_of_pooled_features(k):
    m = _model(ttm=False, tc=False, sc=False, kshot_align=False)
    sup, labels, qry, n = _episode(k=k)
    got = m.episodes(sup, labels, qry, n).logits
    protos = _class_mean(sup, labels, n).mean((-2, -1))
    pq = qry.mean((-2, -1))
    want = -(1 - F.cosine_similarity(pq[:, :, None], protos[:, None], dim=-1)).sum(-1)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _shuffle_keeping_shot_order(labels, n, seed):
    """Per episode, a random class sequence with each class's shots in their original order."""
    g = torch.Generator().manual_seed(seed)
    perms = []
    for lab in labels:
        slots = lab[torch.randperm(len(lab), generator=g)]
        perm = torch.empty_like(lab)
        for c in range(n):
            perm[slots == c] = torch.nonzero(lab == c)[:, 0]
        perms.append(perm)
    return torch.stack(perms)


@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("design", ["mask", "grid", "enumerate"])
def test_shuffling_support_with_labels_keeps_logits(design, k):
    m = _model(sc_design=design)
    sup, labels, qry, n = _episode(k=k, q=1)
    perm = _shuffle_keeping_shot_order(labels, n, seed=3)
    rows = torch.arange(len(perm))[:, None]
    with torch.no_grad():
        a = m.episodes(sup, labels, qry, n).logits
        b = m.episodes(sup[rows, perm], labels[rows, perm], qry, n).logits
        c = m.episodes(sup, labels, qry, n).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert torch.equal(a, c)  # deterministic in eval mode


@pytest.mark.parametrize("k", [1, 2])
def test_relabelling_classes_permutes_logit_columns(k):
    m = _model()
    sup, labels, qry, n = _episode(k=k)
    pi = torch.tensor([2, 0, 1])
    with torch.no_grad():
        a = m.episodes(sup, labels, qry, n).logits
        b = m.episodes(sup, pi[labels], qry, n).logits
    torch.testing.assert_close(b[..., pi], a, atol=1e-5, rtol=1e-5)


def test_enumerate_picks_the_best_integer_shift_per_frame():
    m = _model(ttm=False, tc=False, sc_design="enumerate")
    sup, labels, qry, n = _episode(e=1, n=2, q=1)
    out = m.episodes(sup, labels, qry, n)
    s, q = _class_mean(sup, labels, n)[0, 0], qry[0, 1]  # class 0, query 1: [T, C, H, W]
    want = 0.0
    for t in range(T):
        dists = []
        for dy in range(1 - H, H):
            for dx in range(1 - W, W):
                # support cells (h, w) paired with query cells (h + dy, w + dx)
                hs = [h for h in range(H) if 0 <= h + dy < H]
                ws = [w for w in range(W) if 0 <= w + dx < W]
                sv = s[t][:, hs][:, :, ws].mean((-2, -1))
                qv = q[t][:, [h + dy for h in hs]][:, :, [w + dx for w in ws]].mean((-2, -1))
                dists.append(1 - F.cosine_similarity(sv, qv, dim=0))
        want += min(dists)
    torch.testing.assert_close(out.logits[0, 1, 0], -want, atol=1e-5, rtol=1e-5)
    assert out.extras["sc_offsets"].shape == (1, 2, 2, T, 2)


def test_loss_is_summed_over_queries_and_averaged_over_episodes():
    m = _model()
    logits = torch.randn(3, 4, 5)
    labels = torch.randint(0, 5, (3, 4))
    want = sum(F.cross_entropy(logits[i], labels[i], reduction="sum") for i in range(3)) / 3
    torch.testing.assert_close(m.loss(EpisodeOutput(logits=logits), labels), want)


def test_shots_config_restricts_the_state():
    full, one = _model(), _model(shots=2)
    one.load_state_dict(full.state_dict())
    sup, labels, qry, n = _episode(k=2)
    with torch.no_grad():
        torch.testing.assert_close(
            one.episodes(sup, labels, qry, n).logits, full.episodes(sup, labels, qry, n).logits
        )
        with pytest.raises(FsarError):
            one.episodes(sup[:, :n], labels[:, :n], qry, n)


def test_training_gives_finite_gradients_and_works_on_other_sizes():
    m = _model(return_extras=True).train()
    sup, labels, qry, n = _episode(k=2, h=7, w=5)
    out = m.episodes(sup, labels, qry, n)
    m.loss(out, torch.arange(n).repeat(2)[None].expand(2, -1)).backward()
    grads = {name: p.grad for name, p in m.named_parameters()}
    assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
    assert grads["offset_net.conv1.weight"].abs().sum() > 0
    assert grads["locnet.conv1.weight"].abs().sum() > 0
    assert out.extras["prototype_after"].shape == (2, 2 * n, n, T, C)


def test_reduce_channels_option_changes_width_and_keeps_contract():
    from fsar_bench.methods import create_method

    torch.manual_seed(0)
    m = create_method("ta2n", 16, reduce_channels=4, shots=1).eval()
    s, q = torch.randn(1, 3, 4, 16, 3, 3), torch.randn(1, 3, 4, 16, 3, 3)
    out = m.episodes(s, torch.tensor([[0, 1, 2]]), q, 3)
    assert out.logits.shape == (1, 3, 3) and torch.isfinite(out.logits).all()
    assert m.offset_net is not None and m.reduce.out_features == 4
    assert sum(p.numel() for p in m.parameters()) < sum(
        p.numel() for p in create_method("ta2n", 16, shots=1).parameters()
    )
