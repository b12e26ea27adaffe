"""Dataset registry: names, protocols and the split lists each protocol uses.

Split lists ship inside the package (``fsar_bench/data/splits``, provenance in its
``PROVENANCE.md``). The synthetic datasets keep their split lists in their own data root, because
they are generated (``fsar-bench prepare --dataset synthetic``).

Besides the registered names, :func:`resolve_dataset` accepts single-factor synthetic levels,
``synthetic-<factor>-<level>`` with factor ``duration``, ``evolution`` or ``spatial`` and level
``none``, ``low``, ``mid``, ``high`` or a number (see :mod:`fsar_bench.data.synthetic`), e.g.
``synthetic-evolution-high`` or ``synthetic-duration-0.4``. Such a dataset is named canonically,
so its data folder (``<cache>/data/<name>``) and its caches, keyed on the name and on the data
root's ``config.json``, are its own; any factor at ``none`` is ``synthetic-none`` itself.

Listing datasets imports nothing heavy (a single-factor name imports numpy when resolved).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from fsar_bench.errors import FsarError
from fsar_bench.registry import Registry

SPLITS = ("train", "val", "test")


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """Metadata of a registered dataset.

    Attributes:
        name: registry name.
        title: human-readable name.
        protocol: which few-shot protocol its split lists follow.
        split_files: split -> list file, relative to the package's ``splits`` folder (or to the
            data root when ``synthetic_preset`` is set), or an absolute path (user datasets,
            :mod:`fsar_bench.data.user`).
        classes: expected number of classes per split (checked when the lists are read).
        variants: other published list files of the same protocol: variant -> split -> file.
        synthetic_preset: for generated datasets, the preset or single-factor level
            (``"evolution-high"``) of ``fsar_bench.data.synthetic`` (see ``config_for``).
        aliases: other accepted names.
    """

    name: str
    title: str
    protocol: str
    split_files: dict[str, str]
    classes: dict[str, int]
    variants: dict[str, dict[str, str]] = field(default_factory=dict)
    synthetic_preset: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def is_synthetic(self) -> bool:
        return self.synthetic_preset is not None

    def split_path(self, split: str, data_root: Path | None = None, variant: str = "") -> Path:
        """Absolute path of a split list."""
        if variant and variant not in self.variants:
            known = ", ".join(self.variants) or "none"
            raise FsarError(f"{self.name} has no list variant {variant!r}; variants: {known}")
        files = self.variants[variant] if variant else self.split_files
        if Path(files[split]).is_absolute():
            return Path(files[split])
        if self.is_synthetic:
            if data_root is None:
                raise ValueError("synthetic datasets keep their split lists in the data root")
            return Path(data_root) / files[split]
        return Path(str(resources.files("fsar_bench.data") / "splits" / files[split]))


DATASETS: Registry[DatasetInfo] = Registry(
    "dataset", group="fsar_bench.datasets", entry_type=DatasetInfo
)  # plugins and split-list folders: fsar_bench.data.user


def _trio(folder: str, pattern: str) -> dict[str, str]:
    return {s: f"{folder}/{pattern.format(split=s)}" for s in SPLITS}


DATASETS.register(
    DatasetInfo(
        name="ucf101",
        title="UCF101 (ARN few-shot split)",
        protocol="ARN (Zhang et al., ECCV 2020), lists as in TRX/TA2N code",
        split_files=_trio("ucf101_arn", "{split}list03.txt"),
        classes={"train": 70, "val": 10, "test": 21},
        variants={"hyrsm": _trio("ucf101_arn/hyrsm", "{split}_few_shot.txt")},
    )
)
DATASETS.register(
    DatasetInfo(
        name="hmdb51",
        title="HMDB51 (ARN few-shot split)",
        protocol="ARN (Zhang et al., ECCV 2020), lists as in TRX/TA2N code",
        split_files=_trio("hmdb51_arn", "{split}list03.txt"),
        classes={"train": 31, "val": 10, "test": 10},
        variants={"hyrsm": _trio("hmdb51_arn/hyrsm", "{split}_few_shot.txt")},
    )
)
DATASETS.register(
    DatasetInfo(
        name="ssv2-small",
        title="Something-Something V2, CMN split (SSv2-Small, 100 videos per class)",
        protocol="CMN (Zhu & Yang, ECCV 2018)",
        split_files=_trio("ssv2_small", "{split}.list"),
        classes={"train": 64, "val": 12, "test": 24},
        variants={
            "ta2n": _trio("ssv2_small/ta2n", "{split}list03.txt"),
            "hyrsm": _trio("ssv2_small/hyrsm", "{split}_few_shot.txt"),
        },
    )
)
DATASETS.register(
    DatasetInfo(
        name="ssv2-full",
        title="Something-Something V2, OTAM split (SSv2-Full)",
        protocol="OTAM (Cao et al., CVPR 2020), lists as in TRX code",
        split_files=_trio("ssv2_full", "{split}list07.txt"),
        classes={"train": 64, "val": 12, "test": 24},
        variants={"ta2n": _trio("ssv2_full/ta2n", "{split}list03.txt")},
        aliases=("ssv2",),
    )
)
DATASETS.register(
    DatasetInfo(
        name="kinetics-100",
        title="Kinetics-100, CMN split",
        protocol="CMN (Zhu & Yang, ECCV 2018)",
        split_files=_trio("kinetics_cmn", "{split}.list"),
        classes={"train": 64, "val": 12, "test": 24},
        variants={
            "ta2n": _trio("kinetics_cmn/ta2n", "{split}list03.txt"),
            "hyrsm": _trio("kinetics_cmn/hyrsm", "{split}_few_shot.txt"),
        },
        aliases=("kinetics",),
    )
)
for _preset, _title in (
    ("none", "no misalignment"),
    ("low", "low misalignment (UCF101-like)"),
    ("mid", "medium misalignment (HMDB51-like)"),
    ("high", "high misalignment (SSv2-like)"),
):
    DATASETS.register(
        DatasetInfo(
            name=f"synthetic-{_preset}",
            title=f"Synthetic motion-primitive videos with ground truth, {_title}",
            protocol="fsar-bench synthetic (class-disjoint 64/12/24)",
            split_files=_trio("splits", "{split}list.txt"),
            classes={"train": 64, "val": 12, "test": 24},
            synthetic_preset=_preset,
            aliases=("synthetic",) if _preset == "mid" else (),
        )
    )


SYNTHETIC_PREFIX = "synthetic-"


def resolve_dataset(name: str) -> DatasetInfo:
    """A registered dataset, or the single-factor synthetic level ``name`` names.

    Raises:
        FsarError: unknown name (with close matches) or an invalid level, in one line.
    """
    key = name.strip().lower()
    if key in DATASETS or not key.startswith(SYNTHETIC_PREFIX):
        return DATASETS.get(name)
    from fsar_bench.data.synthetic import FACTORS, LEVEL_CONFIGS, factor_config, level_name

    factor, sep, level = key.removeprefix(SYNTHETIC_PREFIX).partition("-")
    if not sep or factor not in FACTORS:
        close = difflib.get_close_matches(factor, FACTORS, n=1) if sep else []
        hint = f" Did you mean {SYNTHETIC_PREFIX}{close[0]}-{level}?" if close else ""
        grammar = f"{SYNTHETIC_PREFIX}{{{'|'.join(FACTORS)}}}-{{{'|'.join(LEVEL_CONFIGS)}|NUMBER}}"
        try:
            return DATASETS.get(name)
        except FsarError as err:
            raise FsarError(f"{err}{hint} Single-factor synthetic levels: {grammar}.") from None
    try:
        spec = level_name(factor, level)
        config = factor_config(factor, level)  # validates a numeric level
    except FsarError as err:
        raise FsarError(f"dataset {name!r}: {err}") from None
    if spec == "none":
        return DATASETS.get(f"{SYNTHETIC_PREFIX}none")
    value = {"duration": config.duration, "evolution": config.warp_sigma, "spatial": config.offset}[
        factor
    ]
    return DatasetInfo(
        name=SYNTHETIC_PREFIX + spec,
        title=f"Synthetic motion-primitive videos with ground truth, {factor} misalignment only "
        f"(level {spec.partition('-')[2]}: {value}; other factors none)",
        protocol="fsar-bench synthetic (class-disjoint 64/12/24)",
        split_files=_trio("splits", "{split}list.txt"),
        classes={"train": 64, "val": 12, "test": 24},
        synthetic_preset=spec,
    )
