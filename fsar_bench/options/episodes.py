"""Option group of ``fsar-bench episodes``: the spec of one seeded episode manifest."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import SEED_MAX, opt

if TYPE_CHECKING:
    from fsar_bench.episodes.manifest import EpisodeSpec


@dataclass(frozen=True, kw_only=True)
class ManifestOptions:
    """Which episodes to draw: split, shape, number, seed and frame sampling."""

    split: str = opt("test", "--split", help="train | val | test")
    way: int = opt(5, "--way", help="Classes per episode.", minimum=2)
    shot: int = opt(1, "--shot", help="Support videos per class.", minimum=1)
    query: int | None = opt(
        None, "--query", help="Queries per class [protocol's, else 1].", minimum=1
    )
    episodes: int | None = opt(
        None, "--episodes", help="Episodes [protocol's, else 10000].", minimum=1
    )
    protocol: str | None = opt(
        None, "--protocol", help="Protocol (fsar-bench ls protocols): sets --episodes and --query."
    )
    seed: int = opt(0, "--seed", help="Seed of the draw.", minimum=0, maximum=SEED_MAX)
    frames: int = opt(8, "--frames", help="Frames per video.", minimum=1)
    sampling: str = opt("trx", "--sampling", help="Test-time frame sampling: trx | centre.")
    out: Path = opt(..., "--out", help="Manifest file to write.")

    def spec(self, dataset: str, variant: str) -> EpisodeSpec:
        """The checked :class:`EpisodeSpec` (a protocol fills what is not given)."""
        from fsar_bench.data.datasets import SPLITS
        from fsar_bench.data.sampling import TEST_MODES
        from fsar_bench.episodes.manifest import EpisodeSpec
        from fsar_bench.episodes.protocols import PROTOCOLS

        if self.split not in SPLITS:
            raise FsarError(f"unknown split {self.split!r}; choose from {', '.join(SPLITS)}")
        if self.sampling not in TEST_MODES:
            raise FsarError(
                f"unknown sampling {self.sampling!r}; choose from {', '.join(TEST_MODES)}"
            )
        proto = PROTOCOLS.get(self.protocol) if self.protocol is not None else None
        episodes = self.episodes or (proto.total_episodes if proto else 10_000)
        query = self.query or (proto.query if proto else 1)
        return EpisodeSpec(
            dataset=dataset,
            split=self.split,
            way=self.way,
            shot=self.shot,
            query=query,
            episodes=episodes,
            seed=self.seed,
            frames=self.frames,
            sampling=self.sampling,
            variant=variant,
        )
