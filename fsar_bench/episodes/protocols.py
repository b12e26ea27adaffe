"""Evaluation protocols of the papers, as named presets (``fsar-bench ls protocols``).

The papers' protocols are 5-way with 8 frames per video, the run's defaults (``--way``,
``--frames``); shots are chosen per run (1 and 5 by default).

| name | test episodes | queries per class | repeats | source |
| --- | --- | --- | --- | --- |
| ``otam`` | 10,000 | 1 | 1 | OTAM and TRX-family code |
| ``ta2n`` | 5,000 | 1 | 1 | TA2N paper (the authors' code used 3,000: ``ta2n-code``) |
| ``ta2n-code`` | 3,000 | 1 | 1 | TA2N public code |
| ``ita`` | 600 | 15 | 10 | Cao et al., CVIU 2021: mean over 10 repeats of 600 episodes |
| ``quick`` | 1,000 | 1 | 1 | fsar-bench CPU default (not a paper protocol; say so in reports) |

Interval convention (all protocols): ``mean +- 1.96 * s / sqrt(n)`` with ``s`` the sample standard
deviation (ddof=1) of per-episode accuracies; for ``ita`` the interval is over the 10 repeat
means, as that paper reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from fsar_bench.registry import Registry


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """A named evaluation protocol."""

    name: str
    title: str
    episodes: int
    query: int
    repeats: int = 1
    aliases: tuple[str, ...] = ()

    @property
    def total_episodes(self) -> int:
        return self.episodes * self.repeats


PROTOCOLS: Registry[Protocol] = Registry("protocol")
for _p in (
    Protocol(
        name="otam",
        title="OTAM / TRX code: 10,000 episodes, 1 query per class",
        episodes=10_000,
        query=1,
    ),
    Protocol(
        name="ta2n", title="TA2N paper: 5,000 episodes, 1 query per class", episodes=5_000, query=1
    ),
    Protocol(
        name="ta2n-code",
        title="TA2N public code: 3,000 episodes, 1 query per class",
        episodes=3_000,
        query=1,
    ),
    Protocol(
        name="ita",
        title="Cao et al. CVIU 2021: 10 x 600 episodes, 15 queries per class",
        episodes=600,
        query=15,
        repeats=10,
    ),
    Protocol(
        name="quick",
        title="fsar-bench CPU default: 1,000 episodes, 1 query per class",
        episodes=1_000,
        query=1,
    ),
):
    PROTOCOLS.register(_p)
