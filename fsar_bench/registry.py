"""A small typed registry: built-in entries, name families, entry-point plugins, lazy factories.

Entries are frozen metadata dataclasses; nothing heavy (torch, models) is imported until
:func:`load` resolves an entry's ``"module:attr"`` factory path. A name is found, in this order,
among:

1. **built-in** entries and their aliases (:meth:`Registry.register`);
2. **families** (:meth:`Registry.register_family`): every name ``"<prefix><rest>"`` (e.g.
   ``"timm:resnet50"``) is resolved by a ``"module:attr"`` resolver called with the name; the
   entry it returns is cached. Listings show a family as one row (``timm:<model>``);
3. **plugins** of a registry made with ``group=``: entries that other installed distributions
   declare as entry points of that group (``importlib.metadata``; lm-evaluation-harness, MTEB
   and timm let users extend them the same way). In the plugin's ``pyproject.toml``::

       [project.entry-points."fsar_bench.backbones"]
       my-net = "my_pkg.fsar:MY_NET"

Plugin contract:

* The entry point's name is the entry's only name (lowercase; looked up case-insensitively); the
  entry declares no aliases. A name equal to a built-in name or alias, starting with a family
  prefix, or declared by two distributions is a one-line error naming both sides.
* Its value ``"module:attr"`` resolves to an entry of the registry's type (for
  ``fsar_bench.backbones``: a :class:`fsar_bench.features.BackboneInfo`, whose ``factory`` is the
  ``"module:attr"`` of ``(weights) -> nn.Module``; see :mod:`fsar_bench.features`) or to a
  zero-argument callable returning one; ``entry.name`` equals the entry point's name.
* Listing (``fsar-bench ls``, :meth:`Registry.catalog`, :meth:`Registry.names`) reads only the
  installed metadata (``ep.name``, ``ep.value``, the distribution): the plugin's module is not
  imported. It is imported (``ep.load()``) when the entry is looked up by name or when every
  entry is iterated. Keep the module light anyway (import torch inside the factory, as the
  built-ins do).
* Discovery runs once per registry, the first time a name that is not built in is looked up or
  the list is asked for; :meth:`Registry.refresh` forgets it (tests; a plugin installed into a
  running process).

:meth:`Registry.origin` says where an entry comes from: ``"built-in"``, ``"built-in family
(timm 1.0.31)"`` or ``"entry point <distribution> <version> (<module:attr>)"``.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Generic, Protocol, TypeVar

from fsar_bench.errors import FsarError

BUILT_IN = "built-in"


class Entry(Protocol):
    name: str
    aliases: tuple[str, ...]


E = TypeVar("E", bound=Entry)


def load(path: str) -> Any:
    """Import ``"package.module:attr"`` and return the attribute."""
    module, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True, kw_only=True)
class Listed(Generic[E]):
    """One row of :meth:`Registry.catalog`.

    Attributes:
        name: the name to type (a family: ``"<prefix><...>"``, e.g. ``"timm:<model>"``).
        origin: see :meth:`Registry.origin`.
        entry: the metadata; ``None`` for a family and for a plugin not loaded yet.
        about: a family's title, or a plugin's ``"module:attr"``.
    """

    name: str
    origin: str
    entry: E | None = None
    about: str = ""


@dataclass(frozen=True)
class _Family:
    prefix: str
    resolver: str
    title: str
    placeholder: str
    requires: str


@dataclass(frozen=True)
class _Plugin:
    name: str
    value: str
    origin: str
    point: metadata.EntryPoint


class Registry(Generic[E]):
    """Named entries with aliases, families and plugins; ``get`` fails with close matches.

    Args:
        kind: what the entries are, for messages ("dataset", "method", ...).
        group: entry-point group of plugins (e.g. ``"fsar_bench.backbones"``); ``None``: none.
        entry_type: class every plugin entry must be an instance of.
    """

    def __init__(self, kind: str, group: str | None = None, entry_type: type | None = None):
        self.kind = kind
        self.group = group
        self.entry_type = entry_type
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}
        self._families: list[_Family] = []
        self._resolved: dict[str, E] = {}
        self._plugins: dict[str, _Plugin] | None = None
        self._loaded: dict[str, E] = {}

    def register(self, entry: E) -> E:
        """Add a built-in entry."""
        for key in (entry.name, *entry.aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} name {key!r} registered twice")
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name
        return entry

    def register_family(
        self, prefix: str, resolver: str, title: str, placeholder: str = "", requires: str = ""
    ) -> None:
        """Accept every name ``prefix + rest``; ``load(resolver)(name)`` returns its entry.

        Args:
            placeholder: shown after the prefix in listings (``"<model>"``).
            requires: distribution the family needs; its version is shown as the origin.
        """
        self._families.append(_Family(prefix, resolver, title, placeholder, requires))

    def refresh(self) -> None:
        """Forget discovered plugins (the next look-up reads the installed metadata again)."""
        self._plugins = None
        self._loaded.clear()

    def names(self) -> list[str]:
        """Built-in and plugin names (plugins from metadata only: nothing is imported)."""
        return sorted([*self._entries, *self._discover()])

    def __iter__(self) -> Iterator[E]:
        """Every built-in and plugin entry (this loads the plugins); families are not listed."""
        return iter(self._entries[n] if n in self._entries else self.get(n) for n in self.names())

    def __contains__(self, name: str) -> bool:
        try:
            self.get(name)
        except FsarError:
            return False
        return True

    def get(self, name: str) -> E:
        """The entry called ``name`` (or alias): built-in, family member or plugin."""
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        if key in self._entries:
            return self._entries[key]
        family = next((f for f in self._families if key.startswith(f.prefix)), None)
        if family is not None:
            if key not in self._resolved:
                entry = load(family.resolver)(key)
                self._resolved[key] = self._resolved[entry.name] = entry  # canonical name too
            return self._resolved[key]
        plugins = self._discover()
        if key in plugins:
            return self._load_plugin(plugins[key])
        known = self.names() + sorted(self._aliases)
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        families = "".join(f", {f.prefix}{f.placeholder}" for f in self._families)
        raise FsarError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: "
            f"{', '.join(self.names())}{families}."
        )

    def list(self, pattern: str = "*") -> list[str]:
        """Names matching a shell-style pattern (timm's ``list_models``)."""
        return [n for n in self.names() if fnmatch.fnmatch(n, pattern)]

    def origin(self, name: str) -> str:
        """Where ``name`` comes from, without importing a plugin (see the module docstring)."""
        key = self._aliases.get(name.strip().lower(), name.strip().lower())
        if key in self._entries:
            return BUILT_IN
        for family in self._families:
            if key.startswith(family.prefix):
                return _family_origin(family)
        if key in self._discover():
            return self._discover()[key].origin
        raise FsarError(f"unknown {self.kind} {name!r}")

    def catalog(self) -> list[Listed[E]]:
        """Rows for a listing: built-ins, families, then plugins; imports no plugin module."""
        rows = [Listed(name=n, origin=BUILT_IN, entry=e) for n, e in sorted(self._entries.items())]
        rows += [
            Listed(
                name=f.prefix + f.placeholder, origin=_family_origin(f), entry=None, about=f.title
            )
            for f in self._families
        ]
        plugins = sorted(self._discover().items())
        return rows + [
            Listed(name=n, origin=p.origin, entry=self._loaded.get(n), about=p.value)
            for n, p in plugins
        ]

    def _discover(self) -> dict[str, _Plugin]:
        """Plugin name -> entry point, from the installed metadata (checked for collisions)."""
        if self._plugins is not None or self.group is None:
            return self._plugins or {}
        found: dict[str, _Plugin] = {}
        for point in metadata.entry_points(group=self.group):
            plugin = _Plugin(point.name.strip().lower(), point.value, _point_origin(point), point)
            clash = self._clash(plugin.name, found)
            if clash:
                raise FsarError(
                    f"{self.kind} {plugin.name!r} of the {plugin.origin} collides with {clash}; "
                    f"rename one of them (group {self.group})"
                )
            found[plugin.name] = plugin
        self._plugins = found
        return found

    def _clash(self, name: str, found: dict[str, _Plugin]) -> str:
        """What ``name`` collides with ("" if nothing)."""
        if name in self._entries or name in self._aliases:
            return f"the built-in {self.kind} {self._aliases.get(name, name)!r}"
        family = next((f for f in self._families if name.startswith(f.prefix)), None)
        if family is not None:
            return f"the built-in family {family.prefix}{family.placeholder}"
        if name in found:
            return f"the {found[name].origin}"
        return ""

    def entry_of(self, value: Any, name: str, origin: str) -> E:
        """The entry a plugin's loaded value stands for: the value itself or, when it is
        callable, what calling it with no arguments returns. Registries that accept other
        values (the methods' accepts a method class) override this."""
        return value() if callable(value) else value

    def _load_plugin(self, plugin: _Plugin) -> E:
        """Import a plugin's value (once) and check it fulfils the contract."""
        if plugin.name in self._loaded:
            return self._loaded[plugin.name]
        where = f"{self.kind} {plugin.name!r} of the {plugin.origin}"
        try:
            entry = self.entry_of(plugin.point.load(), plugin.name, plugin.origin)
        except FsarError:
            raise
        except Exception as err:  # a broken plugin: say which one, in one line
            first = (str(err).strip().splitlines() or [""])[0]
            raise FsarError(f"{where} does not load: {type(err).__name__}: {first}") from err
        if self.entry_type is not None and not isinstance(entry, self.entry_type):
            raise FsarError(
                f"{where} is a {type(entry).__name__}, not a {self.entry_type.__name__}"
            )
        if entry.name != plugin.name or entry.aliases:
            raise FsarError(
                f"{where}: the entry's name must be {plugin.name!r} (it is {entry.name!r}) and "
                f"it must have no aliases (it has {list(entry.aliases)})"
            )
        self._loaded[plugin.name] = entry
        return entry


def _point_origin(point: metadata.EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    owner = f"{dist.name} {dist.version}" if dist is not None else "unknown distribution"
    return f"entry point {owner} ({point.value})"


def _family_origin(family: _Family) -> str:
    if not family.requires:
        return f"{BUILT_IN} family"
    try:
        version = metadata.version(family.requires)
    except metadata.PackageNotFoundError:
        version = "not installed"
    return f"{BUILT_IN} family ({family.requires} {version})"
