"""Option groups of the misalignment analyses (``aem``, ``start-times``, ``tsne``).

:class:`ProbeOptions` holds the probe and where its files go; :meth:`ProbeOptions.measure_request`
resolves it, with the feature and compute groups, into the analysis's
:class:`~fsar_bench.analysis.measures.outputs.MeasureRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import SEED_MAX, opt, set_field

if TYPE_CHECKING:
    from fsar_bench.analysis.measures.outputs import MeasureRequest
    from fsar_bench.options.common import ComputeOptions
    from fsar_bench.options.features import FeatureOptions

PROBE_HELP = (
    "feature-tsm (CPU: shift blocks on cached features, not the full TSM) | "
    "tsm-resnet50 (full TSM fine-tuned on frames; for a GPU)."
)


@dataclass(frozen=True, kw_only=True)
class ProbeOptions:
    """The dataset's temporal-shift probe and the analysis files."""

    out: Path = opt(Path("reports") / "analysis", "--out", help="Files go to OUT/<dataset>/.")
    pdf: bool = opt(False, "--pdf", help="Also write the figures as PDF.")
    probe_mode: str = opt("feature-tsm", "--probe", help=PROBE_HELP)
    sets: tuple[str, ...] = opt([], "--set", help="probe.FIELD=VALUE, e.g. probe.epochs=20.")
    seed: int = opt(
        0,
        "--seed",
        help="Seed of the probe, its video split, the training views and t-SNE.",
        minimum=0,
        maximum=SEED_MAX,
    )
    random_init: bool = opt(False, "--random-init", help="Random backbone weights (tests only).")

    def __post_init__(self) -> None:
        set_field(self, "sets", tuple(self.sets))

    def measure_request(self, features: FeatureOptions, compute: ComputeOptions) -> MeasureRequest:
        """The checked :class:`MeasureRequest` (``--set`` sections other than probe refused)."""
        from fsar_bench.analysis.measures.outputs import MeasureRequest
        from fsar_bench.analysis.probe.config import ProbeConfig
        from fsar_bench.engine.overrides import apply, parse_sets
        from fsar_bench.features.settings import ExtractConfig
        from fsar_bench.runtime import pick_device

        parsed = parse_sets(list(self.sets))
        if set(parsed) - {"probe"}:
            other = sorted(set(parsed) - {"probe"})[0]
            raise FsarError(f"--set section {other!r}: expected probe.FIELD=VALUE")
        tsm = self.probe_mode == "tsm-resnet50"
        base = ProbeConfig(
            mode=self.probe_mode, seed=self.seed, random_init=self.random_init and tsm
        )
        return MeasureRequest(
            probe=apply(base, parsed.get("probe", {}), "probe"),
            features=ExtractConfig(
                backbone=features.backbone,
                frames=features.frames,
                size=features.size,
                weights=str(features.weights) if features.weights else None,
                map_size=features.map_size,
                seed=self.seed,
                random_init=self.random_init,
            ),
            device=str(pick_device(compute.device)),
            workers=compute.workers,
            seed=self.seed,
        )
