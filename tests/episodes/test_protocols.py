"""The papers' evaluation protocols: stated sizes, manifests of those sizes, the ``ita`` interval
over repeat means, and ``fsar-bench ls protocols`` (``episodes --protocol``:
tests/commands/test_cli.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import toy_index
from fsar_bench.cli import main
from fsar_bench.engine.run import summarize_accuracy
from fsar_bench.episodes.manifest import EpisodeSpec, build_manifest
from fsar_bench.episodes.protocols import PROTOCOLS

# (test episodes, queries per class, repeats) as the papers and code state them
STATED = {
    "otam": (10_000, 1, 1),  # OTAM / TRX-family code
    "ta2n": (5_000, 1, 1),  # TA2N paper
    "ta2n-code": (3_000, 1, 1),  # TA2N public code
    "ita": (600, 15, 10),  # Cao et al. CVIU 2021: 600 episodes x 10 repeats, 15 queries/class
    "quick": (1_000, 1, 1),  # suite CPU default
}
SLOW = {"otam", "ita"}  # manifests of 6,000+ episodes take a few seconds to draw


def test_registered_protocols_have_the_stated_sizes() -> None:
    assert set(PROTOCOLS.names()) == set(STATED)
    for name, (episodes, query, repeats) in STATED.items():
        p = PROTOCOLS.get(name)
        assert (p.episodes, p.query, p.repeats) == (episodes, query, repeats)
        assert p.total_episodes == episodes * repeats


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(STATED)],
)
@pytest.mark.parametrize("shot", [1, 5])
def test_manifest_of_a_protocol_has_its_sizes(name: str, shot: int) -> None:
    proto = PROTOCOLS.get(name)
    spec = EpisodeSpec(dataset="toy", shot=shot, query=proto.query, episodes=proto.total_episodes)
    data = json.loads(build_manifest(toy_index(n_classes=6, per_class=shot + 15, grow=False), spec))
    episodes, query, repeats = STATED[name]
    assert len(data["episodes"]) == episodes * repeats
    for ep in data["episodes"]:
        assert len(ep["classes"]) == 5
        assert [len(s) for s in ep["support"]] == [shot] * 5
        assert [len(q) for q in ep["query"]] == [query] * 5
    assert all(len(v["frames"]) == 8 for v in data["videos"].values())  # the default T


def test_ita_interval_is_over_the_means_of_ten_repeats_in_episode_order() -> None:
    rng = np.random.default_rng(0)
    acc = rng.uniform(0, 100, 600 * 10)
    acc[:600] += 50  # the first repeat differs: only grouping in episode order sees it
    summary, convention = summarize_accuracy(acc, 10)
    means = [acc[600 * r : 600 * (r + 1)].mean() for r in range(10)]
    mean = sum(means) / 10
    sd = (sum((m - mean) ** 2 for m in means) / 9) ** 0.5
    assert summary["mean"] == pytest.approx(mean)
    assert summary["ci95"] == pytest.approx(1.959964 * sd / 10**0.5)  # z = norm.ppf(0.975)
    assert summary["per_episode"]["mean"] == pytest.approx(acc.mean())
    assert "10 repeat means" in convention
    single, _ = summarize_accuracy(acc, 1)
    assert "per_episode" not in single and single["mean"] == pytest.approx(acc.mean())


def test_ls_protocols_lists_every_protocol_with_its_sizes(capsys) -> None:
    assert main(["ls", "protocols"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["name", "episodes", "repeats", "query/class"]
    assert "title" in lines[0].split()
    rows = {line.split()[0]: line.split()[1:4] for line in lines[2:]}
    assert rows == {n: [str(e), str(r), str(q)] for n, (e, q, r) in STATED.items()}
