"""The method registry: metadata entries with lazy factories (no torch until a method is built).

An entry (:class:`MethodInfo`) holds everything about a method that lives outside its module:
names, paper, its config class, the values the run presets give it, its ablation tables and how
reports name it. Adding a method touches only its module and its entry.

Methods from other packages (``docs/your-method.md``), found in this order after the built-ins:

* **entry points** of the group ``fsar_bench.methods`` (see :mod:`fsar_bench.registry`): the
  value is a :class:`MethodInfo`, a zero-argument callable returning one, or a
  :class:`~fsar_bench.methods.base.FewShotMethod` subclass. The entry point's name is the
  registry name. Listing reads the metadata only (no torch, no plugin import);
* **import paths** ``package.module:Class`` (``--methods my_pkg.methods:MyNet``): a
  ``FewShotMethod`` subclass whose registry name is the class name in lower case. Only a name
  typed in this invocation is imported (:meth:`MethodRegistry.get`); a name read from stored
  results goes through :meth:`MethodRegistry.known`, which never imports anything a results
  file names (a downloaded results folder cannot run its own code).

An entry made from a class (:func:`info_from_class`) takes ``input_kind`` and ``config_class``
(a dataclass whose fields all have defaults; absent: the method takes no config and is built as
``Class(feature_dim)``, else ``Class(feature_dim, config)``) from the class, its title from the
first line of its docstring, and records where it came from in ``origin``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fsar_bench.errors import FsarError
from fsar_bench.registry import Registry, load

INPUT_KINDS = ("pooled", "spatial")
NO_CONFIG = "fsar_bench.methods.registry:NoConfig"


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


@dataclass(frozen=True, kw_only=True)
class NoConfig:
    """The config of a method whose class names no ``config_class`` (it has no fields)."""


def _where(name: str, origin: str) -> str:
    return f"method {name!r} ({origin})"


def _config_path(cls: type, where: str) -> str:
    """``"module:Class"`` of ``cls.config_class`` (checked), or :data:`NO_CONFIG`."""
    config = getattr(cls, "config_class", None)
    if config is None:
        return NO_CONFIG
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise FsarError(f"{where}: config_class must be a dataclass, not {config!r}")
    try:
        config()
    except TypeError as err:
        raise FsarError(
            f"{where}: every field of {config.__name__} needs a default ({err})"
        ) from err
    return _importable(config, where)


def _importable(obj: type, where: str) -> str:
    """``"module:qualname"`` of a class that can be imported back by that path."""
    path = f"{obj.__module__}:{obj.__qualname__}"
    try:
        ok = load(path) is obj
    except (ImportError, AttributeError):
        ok = False
    if not ok:
        raise FsarError(f"{where}: {path} cannot be imported back; define it at module level")
    return path


def info_from_class(cls: Any, name: str, origin: str) -> MethodInfo:
    """The registry entry of a :class:`~fsar_bench.methods.base.FewShotMethod` subclass."""
    from fsar_bench.methods.base import FewShotMethod  # imports torch: only when a class is used

    where = _where(name, origin)
    if not (isinstance(cls, type) and issubclass(cls, FewShotMethod)):
        raise FsarError(
            f"{where}: {cls!r} is not a subclass of fsar_bench.methods.base.FewShotMethod"
        )
    kind = getattr(cls, "input_kind", "pooled")
    if kind not in INPUT_KINDS:
        raise FsarError(
            f"{where}: input_kind must be one of {', '.join(INPUT_KINDS)}, not {kind!r}"
        )
    doc = (cls.__doc__ or "").strip().splitlines()
    return MethodInfo(
        name=name,
        title=doc[0].strip() if doc else cls.__name__,
        paper=getattr(cls, "paper", ""),
        citation="",
        factory=_importable(cls, where),
        config=_config_path(cls, where),
        input_kind=kind,
        origin=origin,
    )


class MethodRegistry(Registry[MethodInfo]):
    """Built-in methods, ``fsar_bench.methods`` entry points and ``module:Class`` import paths."""

    def __init__(self) -> None:
        super().__init__("method", group="fsar_bench.methods", entry_type=MethodInfo)
        self._paths: dict[str, MethodInfo] = {}  # registry name -> entry of an import path

    def refresh(self) -> None:
        """Forget discovered plugins and the entries of import paths."""
        super().refresh()
        self._paths.clear()

    def entry_of(self, value: Any, name: str, origin: str) -> MethodInfo:
        """A plugin's value: a method class, an entry, or a function returning an entry."""
        if isinstance(value, type):
            return info_from_class(value, name, origin)
        entry = value() if callable(value) else value
        if isinstance(entry, MethodInfo):
            return dataclasses.replace(entry, origin=origin)
        return entry  # not an entry: the registry says so

    def loadable(self) -> list[MethodInfo]:
        """Every built-in and plugin entry that loads (reports read stored results: a broken
        plugin must not stop them; its runs are shown without entry metadata)."""
        out = []
        for name in self.names():
            try:
                out.append(self.get(name))
            except FsarError:
                continue
        return out

    def get(self, name: str) -> MethodInfo:
        """A registered name or alias, or an import path ``package.module:Class`` (imported:
        only for names the user typed in this invocation)."""
        if ":" in name:
            return self._from_path(name.strip())
        return self._paths.get(name.strip().lower()) or super().get(name)

    def known(self, name: str) -> MethodInfo | None:
        """The entry of a name read from stored results, or ``None``: built-ins, installed
        entry points and the import paths given in this invocation only; nothing a results
        file names is imported (an unknown name is shown as a label)."""
        key = str(name).strip().lower()
        if not key or ":" in key:
            return None
        if key in self._paths:
            return self._paths[key]
        try:
            return super().get(key)
        except FsarError:
            return None

    def __contains__(self, name: str) -> bool:
        """Whether :meth:`known` finds ``name`` (never imports an import path)."""
        return self.known(name) is not None

    def origin(self, name: str) -> str:
        key = name.strip().lower()
        if ":" in key or key in self._paths:
            return self.get(name).origin
        return super().origin(name)

    def _from_path(self, path: str) -> MethodInfo:
        """The entry of ``package.module:Class`` (registered under the class name, lowered)."""
        module, _, attr = path.partition(":")
        if not module or not attr:
            raise FsarError(f"method {path!r}: expected package.module:Class")
        try:
            cls = load(path)
        except (ImportError, AttributeError) as err:
            raise FsarError(
                f"method {path!r} cannot be imported: {type(err).__name__}: "
                f"{err}; is its package on the Python path?"
            ) from err
        except SystemExit as err:  # the module ends the process on import: say so
            raise FsarError(
                f"method {path!r} does not load: its module called sys.exit({err.code!r}) on import"
            ) from None
        except Exception as err:  # the module itself fails: one line naming it
            first = (str(err).strip().splitlines() or [""])[0]
            raise FsarError(
                f"method {path!r} does not load: {type(err).__name__}: {first}"
            ) from err
        name = getattr(cls, "__name__", attr).lower()
        same = self._registered(name)
        if same is not None and load(same.factory) is cls:
            return same  # the class of a registered method, named by its path
        if same is not None:
            raise FsarError(
                f"method {path!r} would be called {name!r}, which is the "
                f"{same.origin} method {same.name!r}; rename the class"
            )
        self._paths[name] = info_from_class(cls, name, f"import path {path}")
        return self._paths[name]

    def _registered(self, name: str) -> MethodInfo | None:
        """The entry already called ``name`` (built-in, alias, plugin or import path), if any."""
        if name in self._paths:
            return self._paths[name]
        try:
            return super().get(name)
        except FsarError:
            return None


METHODS: MethodRegistry = MethodRegistry()


def register(info: MethodInfo) -> MethodInfo:
    return METHODS.register(info)


def create_method(name: str, feature_dim: int, **overrides: Any):
    """Build a method by name: ``create_method("otam", 1280, lam=0.05)``.

    Args:
        name: registry name, alias or import path ``package.module:Class``.
        feature_dim: ``D`` (pooled) or ``C`` (spatial) of the input features.
        **overrides: fields of the method's config dataclass (none for a method without one).
    """
    info = METHODS.get(name)
    cls = load(info.factory)
    if info.config == NO_CONFIG:
        if overrides:
            raise FsarError(f"method {info.name!r} takes no config; got {', '.join(overrides)}")
        return cls(feature_dim)
    return cls(feature_dim, load(info.config)(**overrides))


def method_config(name: str, **overrides: Any):
    """The resolved config dataclass instance of a method."""
    return load(METHODS.get(name).config)(**overrides)
