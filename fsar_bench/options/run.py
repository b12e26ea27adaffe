"""Option groups of ``fsar-bench run``, ``profile`` and ``sweep``: what to train and evaluate.

:class:`TrainingOptions` (methods, shots, protocol, preset, seeds, ``--set``, selection, results
store) is shared by the three commands; :class:`RunOptions` adds what only ``run`` takes (the
baseline, the track, ``--trainings``);
:class:`ProfileOptions` holds the analysis side of ``profile`` and ``sweep``.
:meth:`TrainingOptions.request` resolves a group into the engine's checked
:class:`~fsar_bench.engine.request.RunRequest`, once.

``--seed`` has one meaning: the seed of the test episodes (validation: ``seed + 1``) and, unless
``--set train.seed=S``, of the training. A synthetic dataset is generated from its own recorded
seed, whatever ``--seed`` says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import SEED_MAX, csv_items, opt, set_field

if TYPE_CHECKING:
    from fsar_bench.engine.request import RunRequest
    from fsar_bench.options.common import ComputeOptions
    from fsar_bench.options.features import FeatureOptions


def _ints(value: Any, option: str) -> tuple[int, ...]:
    """Comma-separated integers (or a sequence of them), or a one-line error."""
    try:
        return tuple(dict.fromkeys(int(k) for k in csv_items(value)))
    except (TypeError, ValueError) as err:
        raise FsarError(f"{option} {value!r}: expected comma-separated integers like 1,5") from err


@dataclass(frozen=True, kw_only=True)
class TrainingOptions:
    """What to train and evaluate, on which episodes, and where results go."""

    methods: Any = opt(
        "protonet,otam,trn,ta2n",
        "--methods",
        "-m",
        help="Comma-separated names (fsar-bench ls methods) or package.module:Class.",
        cli_type=str,
    )
    shots: Any = opt(
        "1",
        "--shots",
        help="Comma-separated shots (the papers' tables report 1,5).",
        cli_type=str,
    )
    way: int = opt(5, "--way", help="Classes per episode (N).", minimum=2)
    protocol: str = opt("quick", "--protocol", help="Evaluation protocol (ls protocols).")
    preset: str = opt(
        "quick", "--preset", help="Training/method defaults: quick (CPU) | paper (papers')."
    )
    episodes: int | None = opt(
        None, "--episodes", help="Test episodes (default: the protocol's).", minimum=1
    )
    seed: int = opt(
        0,
        "--seed",
        help="Seed of the test episodes (validation: seed + 1) and of the training.",
        minimum=0,
        maximum=SEED_MAX,
    )
    sets: tuple[str, ...] = opt(
        [], "--set", help="SECTION.FIELD=VALUE, e.g. otam.lam=0.05 or train.seed=1."
    )
    select: str = opt(
        "val",
        "--select",
        help="Model selection: val (best on the val split) | last (final weights) | holdout:K "
        "(K training classes held out as validation).",
    )
    runs_dir: Path = opt(Path("runs"), "--runs-dir", help="Where results are written.")

    #: ``--set`` sections besides ``train`` and the methods' names
    extra_sections = ()

    def __post_init__(self) -> None:
        set_field(self, "methods", csv_items(self.methods))
        set_field(self, "shots", _ints(self.shots, "--shots"))
        set_field(self, "sets", tuple(self.sets))

    def request(self, compute: ComputeOptions, features: FeatureOptions, **more: Any) -> RunRequest:
        """The engine's :class:`RunRequest`: names resolved, ``--set`` parsed and checked."""
        from fsar_bench.engine.overrides import parse_sets
        from fsar_bench.engine.request import RunRequest
        from fsar_bench.episodes.protocols import PROTOCOLS
        from fsar_bench.features import BACKBONES
        from fsar_bench.methods import METHODS
        from fsar_bench.runtime import pick_device

        names = tuple(dict.fromkeys(METHODS.get(m).name for m in self.methods))
        parsed = parse_sets(list(self.sets))
        allowed = ("train", *self.extra_sections, *names)
        unknown = sorted(set(parsed) - set(allowed))
        if unknown:
            sections = ", ".join(repr(a) for a in ("train", *self.extra_sections))
            raise FsarError(
                f"--set section {unknown[0]!r} is neither {sections} nor a method of this "
                f"command ({', '.join(names)})"
            )
        return RunRequest(
            methods=names,
            shots=self.shots,
            way=self.way,
            protocol=PROTOCOLS.get(self.protocol).name,
            episodes=self.episodes,
            seed=self.seed,
            backbone=BACKBONES.get(features.backbone).name,
            size=features.size,
            frames=features.frames,
            weights=str(features.weights) if features.weights else None,
            map_size=features.map_size,
            preset=self.preset,
            sets={k: v for k, v in parsed.items() if k in ("train", *names)},
            select=self.select,
            runs=self.runs_dir,
            device=str(pick_device(compute.device)),
            workers=compute.workers,
            **more,
        )


@dataclass(frozen=True, kw_only=True)
class RunOptions(TrainingOptions):
    """``fsar-bench run``: training options, the paired baseline, the track, the number of
    trainings per cell and the training views of the feature cache."""

    baseline: str = opt("protonet", "--baseline", help="Method paired differences compare to.")
    finetune: bool = opt(
        False,
        "--finetune",
        help="Train the backbone with the method on decoded frames (the papers' track; for a "
        "GPU) instead of cached features.",
    )
    trainings: int = opt(
        1,
        "--trainings",
        help="Trainings per cell, training seeds train.seed + 0..N-1, all on the cell's one "
        "test manifest (finished ones are reused); intervals then cover retraining.",
        minimum=1,
    )

    jobs: int | None = opt(
        None,
        "--jobs",
        "-j",
        help="Cells trained at once, in processes of one thread each (default 1: this "
        "process, with PyTorch's threads); records and weights equal a one-thread run's.",
        minimum=1,
    )
    dry_run: bool = opt(
        False, "--dry-run", help="Print the plan and the estimated time, then stop."
    )

    pooled_only: bool = opt(
        False,
        "--pooled-only",
        help="Extract pooled features only (no maps: ~16x less disk); every method must be "
        "pooled (protonet, otam, trn, ita).",
    )
    views: int | None = opt(
        None,
        "--views",
        help="Sampled views per training video in the feature cache (default 4; each "
        "training episode draws one per video). Cached features only.",
        minimum=1,
    )

    def run_request(self, compute: ComputeOptions, features: FeatureOptions) -> RunRequest:
        """:meth:`request` with the track, the kind of features, the number of trainings and
        the parallel cells (``--jobs`` not given: 1 here; ``run`` resolves the default with its
        runtime, :func:`fsar_bench.engine.jobs.resolve_jobs`)."""
        return self.request(
            compute,
            features,
            finetune=self.finetune,
            maps=not self.pooled_only,
            trainings=self.trainings,
            jobs=self.jobs or 1,
            views=self.views,
        )


@dataclass(frozen=True, kw_only=True)
class ProfileOptions(TrainingOptions):
    """``fsar-bench profile`` and ``sweep``: fewer methods by default, and the analysis side
    (probe, order sensitivity, where the points go)."""

    methods: Any = opt(
        "otam,protonet",
        "--methods",
        "-m",
        help="Comma-separated methods (ls methods); with otam, otam matching=mean too.",
        cli_type=str,
    )
    sets: tuple[str, ...] = opt(
        [], "--set", help="SECTION.FIELD=VALUE: train.*, a method's, or probe.*."
    )
    out: Path = opt(Path("reports") / "analysis", "--out", help="Points go to OUT/<dataset>/.")
    no_order: bool = opt(False, "--no-order", help="Skip the order-sensitivity evaluations.")
    pooled_only: bool = opt(
        False,
        "--pooled-only",
        help="Extract pooled features only (no maps: ~16x less disk); every method must be "
        "pooled; the probe reads them too.",
    )
    probe_mode: str = opt("feature-tsm", "--probe", help="feature-tsm | tsm-resnet50.")

    extra_sections = ("probe",)
