"""ITA (Cao et al., CVIU 2021): circle loss against Sun et al.'s formula, the LSTM embedding
against the LSTM equations, prototype cosine logits, and order sensitivity."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.methods.base import EpisodeOutput
from fsar_bench.methods.ita import ITAConfig

N_WAY, SHOTS, N_QUERY, T, D = 3, 2, 4, 5, 6


def episodes(seed: int, n_episodes: int = 2):
    """Support ``[E, N*K, T, D]``, shuffled labels, queries ``[E, Q, T, D]`` and their labels."""
    gen = torch.Generator().manual_seed(seed)
    support = torch.randn(n_episodes, N_WAY * SHOTS, T, D, generator=gen, dtype=torch.float64)
    query = torch.randn(n_episodes, N_QUERY, T, D, generator=gen, dtype=torch.float64)
    labels = torch.stack(
        [torch.randperm(N_WAY * SHOTS, generator=gen) % N_WAY for _ in range(n_episodes)]
    )
    query_labels = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 1]])[:n_episodes]
    return support, labels, query, query_labels


def model(**config):
    torch.manual_seed(0)
    return create_method("ita", D, hidden=5, **config).double()


def circle_oracle(anchors, anchor_labels, refs, ref_labels, m, gamma, skip_self=False):
    """Sun et al. 2020, Eq. 12 with O_p = 1 + m, O_n = -m, Delta_p = 1 - m, Delta_n = m, one
    anchor at a time, alphas held constant (the paper's gradients, Eqs. 14-15); mean over anchors.
    """
    o_p, o_n, delta_p, delta_n = 1 + m, -m, 1 - m, m
    losses = []
    for i, (a, la) in enumerate(zip(anchors, anchor_labels.tolist())):
        s_p, s_n = [], []
        for j, (r, lr) in enumerate(zip(refs, ref_labels.tolist())):
            if skip_self and i == j:
                continue
            s = (a @ r) / (a.norm() * r.norm())
            (s_p if la == lr else s_n).append(s)
        s_p, s_n = torch.stack(s_p), torch.stack(s_n)
        alpha_p = (o_p - s_p.detach()).clamp(min=0)
        alpha_n = (s_n.detach() - o_n).clamp(min=0)
        lse_n = torch.logsumexp(gamma * alpha_n * (s_n - delta_n), 0)
        lse_p = torch.logsumexp(-gamma * alpha_p * (s_p - delta_p), 0)
        losses.append(F.softplus(lse_n + lse_p))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("pairs", ["query-support", "episode"])
@pytest.mark.parametrize("m,gamma", [(0.4, 128.0), (0.25, 32.0), (-0.2, 64.0)])
def test_circle_loss_and_gradient_match_the_formula(pairs: str, m: float, gamma: float) -> None:
    support, labels, query, query_labels = episodes(0)
    support.requires_grad_(True)
    query.requires_grad_(True)
    method = model(m=m, gamma=gamma, pairs=pairs).train()
    out = method.episodes(support, labels, query, N_WAY)
    loss = method.loss(out, query_labels)
    x = out.extras
    per_episode = []
    for e in range(2):
        q, s = x["query_embedding"][e], x["support_embedding"][e]
        if pairs == "query-support":  # queries are anchors, support videos the references
            per_episode.append(circle_oracle(q, query_labels[e], s, labels[e], m, gamma))
        else:  # every video of the episode against every other one
            emb, lab = torch.cat([s, q]), torch.cat([labels[e], query_labels[e]])
            per_episode.append(circle_oracle(emb, lab, emb, lab, m, gamma, skip_self=True))
    expected = torch.stack(per_episode).mean()
    torch.testing.assert_close(loss, expected)
    got = torch.autograd.grad(loss, (support, query), retain_graph=True)
    want = torch.autograd.grad(expected, (support, query))
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_circle_loss_hand_worked_two_anchors() -> None:
    """Unit-circle embeddings with known cosines; PML averages the per-anchor losses."""
    m, gamma = 0.4, 32.0
    method = create_method("ita", 2, hidden=2, m=m, gamma=gamma)

    def unit(deg: float) -> list[float]:
        return [math.cos(math.radians(deg)), math.sin(math.radians(deg))]

    # anchor 0 at 0 deg (label 0), anchor 1 at 90 deg (label 1); references at 30 (label 0)
    # and 120 deg (label 1): anchor 0 has s_p = cos 30, s_n = cos 120; anchor 1 has
    # s_p = cos 30, s_n = cos 60.
    q = torch.tensor([[unit(0), unit(90)]])
    s = torch.tensor([[unit(30), unit(120)]])
    labels = torch.tensor([[0, 1]])
    extras = {"query_embedding": q, "support_embedding": s, "support_labels": labels}
    got = method.loss(EpisodeOutput(logits=torch.zeros(1, 2, 2), extras=extras), labels)

    def anchor(s_p: float, s_n: float) -> float:
        a_p, a_n = max(1 + m - s_p, 0.0), max(s_n + m, 0.0)
        z = gamma * a_n * (s_n - m) - gamma * a_p * (s_p - (1 - m))
        return math.log1p(math.exp(z))

    c = math.cos
    first = anchor(c(math.radians(30)), c(math.radians(120)))
    second = anchor(c(math.radians(30)), c(math.radians(60)))
    assert first < 0.02 < second  # anchor 0 is well separated, anchor 1 is not
    assert got.item() == pytest.approx((first + second) / 2, rel=1e-5)


def test_pml_gets_m_and_gamma_and_derives_the_paper_constants() -> None:
    circle = model(m=0.3, gamma=80.0).circle
    assert (circle.m, circle.gamma) == (0.3, 80.0)
    assert circle.op == pytest.approx(1.3) and circle.on == pytest.approx(-0.3)
    assert circle.delta_p == pytest.approx(0.7) and circle.delta_n == pytest.approx(0.3)
    defaults = ITAConfig()
    assert (defaults.m, defaults.gamma, defaults.hidden, defaults.loss) == (0.4, 128, 512, "circle")


def test_logits_are_scaled_cosine_to_the_mean_embedding_and_ce_uses_them() -> None:
    support, labels, query, query_labels = episodes(1)
    method = model(loss="ce", scale=7.0).eval()
    out = method.episodes(support, labels, query, N_WAY)
    x = out.extras
    for e in range(2):
        for i in range(N_QUERY):
            for c in range(N_WAY):
                proto = x["support_embedding"][e][labels[e] == c].mean(0)
                q = x["query_embedding"][e, i]
                cos = (q @ proto) / (q.norm() * proto.norm())
                torch.testing.assert_close(out.logits[e, i, c], 7.0 * cos)
    expected = F.cross_entropy(out.logits.reshape(-1, N_WAY), query_labels.reshape(-1))
    torch.testing.assert_close(method.loss(out, query_labels), expected)


@pytest.mark.parametrize("adapter", [True, False])
def test_embedding_is_the_lstm_last_hidden_state(adapter: bool) -> None:
    """Against i, f, g, o gate equations written out, step by step from a zero state."""
    method = model(adapter=adapter).eval()
    videos = episodes(2)[0][0]  # [V, T, D]
    lstm = method.lstm
    w_ih, w_hh = lstm.weight_ih_l0, lstm.weight_hh_l0
    bias = lstm.bias_ih_l0 + lstm.bias_hh_l0
    with torch.no_grad():
        for v, video in enumerate(videos):
            h = c = torch.zeros(5, dtype=torch.float64)
            for x in video:  # identity-initialised adapter: x itself
                i, f, g, o = (w_ih @ x + w_hh @ h + bias).chunk(4)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            torch.testing.assert_close(method.embed(videos)["embedding"][v], h)


def test_frame_order_changes_the_embedding_but_not_protonet() -> None:
    support, labels, query, _ = episodes(3)
    reversed_query = query.flip(2)
    with torch.no_grad():
        ita = model().eval()
        a = ita.episodes(support, labels, query, N_WAY).logits
        b = ita.episodes(support, labels, reversed_query, N_WAY).logits
        proto = create_method("protonet", D).double().eval()
        pa = proto.episodes(support, labels, query, N_WAY).logits
        pb = proto.episodes(support, labels, reversed_query, N_WAY).logits
    assert (a - b).abs().max() > 1e-3
    torch.testing.assert_close(pa, pb)


@pytest.mark.parametrize("loss", ["circle", "ce"])
def test_a_few_steps_lower_the_training_loss(loss: str) -> None:
    support, labels, query, query_labels = episodes(4, n_episodes=1)
    method = model(loss=loss).train()
    opt = torch.optim.Adam(method.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        value = method.loss(method.episodes(support, labels, query, N_WAY), query_labels[:1])
        opt.zero_grad()
        value.backward()
        opt.step()
        losses.append(value.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "config", [{"loss": "triplet"}, {"pairs": "all"}, {"hidden": 0}, {"gamma": 0.0}]
)
def test_bad_config_fails_clearly(config: dict) -> None:
    with pytest.raises(FsarError, match="ita"):
        create_method("ita", D, **config)


def twin_episode(classes, gen, n_way: int = 4, n_query: int = 3):
    """Two twin pairs; a video of class ``(a, b)`` shows ``a`` then ``b`` (cut at frame 3-5)."""
    pick = torch.randperm(len(classes) // 2, generator=gen)[: n_way // 2].tolist()
    chosen = [classes[2 * i + j] for i in pick for j in (0, 1)]

    def video(cls):
        cut = int(torch.randint(3, 6, (1,), generator=gen))
        frames = torch.stack([cls[0] if t < cut else cls[1] for t in range(8)])
        return frames + 0.8 * torch.randn(8, 16, generator=gen)

    support = torch.stack([video(c) for c in chosen])[None]
    query = torch.stack([video(c) for c in chosen for _ in range(n_query)])[None]
    return (
        support,
        torch.arange(n_way)[None],
        query,
        torch.arange(n_way).repeat_interleave(n_query)[None],
    )


@pytest.mark.parametrize("loss", ["circle", "ce"])
def test_trained_ita_tells_novel_twin_classes_apart_protonet_cannot(loss: str) -> None:
    """Classes ``(a, b)`` and their twins ``(b, a)`` differ only in order; test classes are new."""
    gen = torch.Generator().manual_seed(1)
    vectors = torch.randn(30, 2, 16, generator=gen)
    pairs = [(v[0], v[1]) for v in vectors]
    classes = [c for a, b in pairs for c in ((a, b), (b, a))]
    train, test = classes[:40], classes[40:]
    accuracy = {}
    for name, cfg in (("ita", {"hidden": 32, "loss": loss}), ("protonet", {})):
        torch.manual_seed(0)
        method = create_method(name, 16, **cfg).train()
        opt = torch.optim.Adam(method.parameters(), lr=1e-3)
        for _ in range(150):
            s, sl, q, ql = twin_episode(train, gen)
            value = method.loss(method.episodes(s, sl, q, 4), ql)
            opt.zero_grad()
            value.backward()
            opt.step()
        test_gen, correct = torch.Generator().manual_seed(5), 0
        with torch.no_grad():
            for _ in range(50):
                s, sl, q, ql = twin_episode(test, test_gen)
                pred = method.eval().episodes(s, sl, q, 4).logits.argmax(-1)
                correct += int((pred == ql).sum())
        accuracy[name] = correct / (50 * 12)
    assert accuracy["ita"] > 0.85 and accuracy["protonet"] < 0.65, accuracy
