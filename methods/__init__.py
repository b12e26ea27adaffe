"""Method registry (installed as ``fsar_bench.methods``).

Entries are metadata only; the model classes (which import torch) load lazily through
:func:`create_method`. Listing methods imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fsar_bench.registry import Registry, load


@dataclass(frozen=True)
class MethodInfo:
    """Metadata of a registered method.

    Attributes:
        name: registry name (lowercase).
        title: human-readable name.
        paper: short reference (authors, venue, year).
        citation: BibTeX key-like citation string.
        factory: ``"module:Class"`` of the :class:`~fsar_bench.methods.base.FewShotMethod`.
        config: ``"module:Class"`` of the method's frozen config dataclass.
        input_kind: ``"pooled"`` (``[T, D]`` per video) or ``"spatial"`` (``[T, C, H, W]``).
        aliases: other accepted names.
    """

    name: str
    title: str
    paper: str
    citation: str
    factory: str
    config: str
    input_kind: str
    aliases: tuple[str, ...] = ()


METHODS: Registry[MethodInfo] = Registry("method")


def register(info: MethodInfo) -> MethodInfo:
    return METHODS.register(info)


def create_method(name: str, feature_dim: int, **overrides: Any):
    """Build a method by name: ``create_method("otam", 1280, lam=0.05)``.

    Args:
        name: registry name or alias.
        feature_dim: ``D`` (pooled) or ``C`` (spatial) of the input features.
        **overrides: fields of the method's config dataclass.
    """
    info = METHODS.get(name)
    config_cls = load(info.config)
    cls = load(info.factory)
    return cls(feature_dim, config_cls(**overrides))


def method_config(name: str, **overrides: Any):
    """The resolved config dataclass instance of a method."""
    return load(METHODS.get(name).config)(**overrides)


register(
    MethodInfo(
        name="protonet",
        title="ProtoNet / TSN++",
        paper="Snell et al., NeurIPS 2017; TSN++ baseline of Cao et al., CVPR 2020",
        citation="snell2017prototypical",
        factory="fsar_bench.methods.protonet:ProtoNet",
        config="fsar_bench.methods.protonet:ProtoNetConfig",
        input_kind="pooled",
        aliases=("tsn++", "tsn"),
    )
)
register(
    MethodInfo(
        name="otam",
        title="OTAM: ordered temporal alignment",
        paper="Cao et al., Few-Shot Video Classification via Temporal Alignment, CVPR 2020",
        citation="cao2020otam",
        factory="fsar_bench.methods.otam:OTAM",
        config="fsar_bench.methods.otam:OTAMConfig",
        input_kind="pooled",
    )
)
register(
    MethodInfo(
        name="trn",
        title="TRN++: multi-scale temporal relations",
        paper="Zhou et al., ECCV 2018; TRN++ baseline of Cao et al., CVPR 2020",
        citation="zhou2018trn",
        factory="fsar_bench.methods.trn:TRNPlusPlus",
        config="fsar_bench.methods.trn:TRNConfig",
        input_kind="pooled",
        aliases=("trn++",),
    )
)
register(
    MethodInfo(
        name="ta2n",
        title="TA2N: two-stage action alignment",
        paper="Li et al., TA2N: Two-Stage Action Alignment Network for FSAR, AAAI 2022",
        citation="li2022ta2n",
        factory="fsar_bench.methods.ta2n:TA2N",
        config="fsar_bench.methods.ta2n:TA2NConfig",
        input_kind="spatial",
    )
)
register(
    MethodInfo(
        name="ita",
        title="Implicit temporal alignment: LSTM embedding, circle loss",
        paper="Cao et al., Few-shot Action Recognition with Implicit Temporal Alignment and Pair "
        "Similarity Optimization, CVIU 2021",
        citation="cao2021implicit",
        factory="fsar_bench.methods.ita:ITA",
        config="fsar_bench.methods.ita:ITAConfig",
        input_kind="pooled",
    )
)
register(
    MethodInfo(
        name="rvn",
        title="RVN: relation video network (baseline of the ITA paper)",
        paper="Cao et al., CVIU 2021 (Sec. 4.3.1); relation module after Sung et al., CVPR 2018",
        citation="cao2021implicit",
        factory="fsar_bench.methods.rvn:RVN",
        config="fsar_bench.methods.rvn:RVNConfig",
        input_kind="spatial",
    )
)
