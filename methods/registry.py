"""The method registry: metadata entries with lazy factories (no torch until a method is built).

An entry (:class:`MethodInfo`) holds everything about a method that lives outside its module:
names, paper, its config class, the values the run presets give it, its ablation tables and how
reports name it. Adding a method touches only its module and its entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fsar_bench.registry import Registry, load


@dataclass(frozen=True, kw_only=True)
class Ablation:
    """An ablation of a method (a report table): runs that differ in ``fields`` of its config.

    Attributes:
        name: table file name (``ablation_*``). title: table title.
        fields: method-config fields that tell the rows apart; default: their default values.
        source, table: the published table it mirrors (rows of the reference CSV).
        published: row key (values of ``fields``) -> method name in the published CSV.
    """

    name: str
    title: str
    fields: tuple[str, ...]
    default: tuple
    source: str
    table: str
    published: dict[tuple, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class MethodInfo:
    """Everything about a registered method outside its module (metadata only: no torch).

    Attributes:
        name: registry name (lowercase). title: human-readable name.
        paper: short reference (authors, venue, year). citation: BibTeX key-like string.
        factory: ``"module:Class"`` of the :class:`~fsar_bench.methods.base.FewShotMethod`.
        config: ``"module:Class"`` of the method's frozen config dataclass.
        input_kind: ``"pooled"`` (``[T, D]`` per video) or ``"spatial"`` (``[T, C, H, W]``).
        aliases: other accepted names.
        presets: run preset -> method-config values (strings, as ``--set`` takes them) that the
            preset sets below the user's ``--set``; e.g. ``{"quick": {"reduce_channels": "256"}}``.
        train_presets: run preset -> training-config values for this method only.
        shots_field: a config field set to the run's shot unless the user sets it (TA2N builds
            only what that K needs).
        ablations: the report's ablation tables of this method.
        published_names: method names in the published-results CSV that mean this method.
        report_rank: position in the report's tables (TA2N Table 2's order, then others).
        neutral_fields: config fields that do not change accuracy (left out of row labels).
        origin: where the entry comes from (``built-in`` or the plugin that registered it).
    """

    name: str
    title: str
    paper: str
    citation: str
    factory: str
    config: str
    input_kind: str
    aliases: tuple[str, ...] = ()
    presets: dict[str, dict[str, str]] = field(default_factory=dict)
    train_presets: dict[str, dict[str, str]] = field(default_factory=dict)
    shots_field: str | None = None
    ablations: tuple[Ablation, ...] = ()
    published_names: tuple[str, ...] = ()
    report_rank: int = 100
    neutral_fields: tuple[str, ...] = ()
    origin: str = "built-in"


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
