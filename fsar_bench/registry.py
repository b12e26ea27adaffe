"""A small typed registry with lazy ``"module:attr"`` factories and did-you-mean errors.

Entries are frozen metadata dataclasses; nothing heavy (torch, models) is imported until
:func:`load` resolves an entry's factory path.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

from fsar_bench.errors import FsarError


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


class Registry(Generic[E]):
    """Named entries with aliases; ``get`` fails with close matches and the full list.

    Args:
        kind: what the entries are, for messages ("dataset", "method", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, E] = {}
        self._aliases: dict[str, str] = {}

    def register(self, entry: E) -> E:
        for key in (entry.name, *entry.aliases):
            if key in self._entries or key in self._aliases:
                raise ValueError(f"{self.kind} name {key!r} registered twice")
        self._entries[entry.name] = entry
        for alias in entry.aliases:
            self._aliases[alias] = entry.name
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __iter__(self) -> Iterator[E]:
        return iter(self._entries[n] for n in self.names())

    def __contains__(self, name: str) -> bool:
        key = name.lower()
        return key in self._entries or key in self._aliases

    def get(self, name: str) -> E:
        key = name.strip().lower()
        key = self._aliases.get(key, key)
        if key in self._entries:
            return self._entries[key]
        known = self.names() + sorted(self._aliases)
        close = difflib.get_close_matches(key, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise FsarError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(self.names())}."
        )

    def list(self, pattern: str = "*") -> list[str]:
        """Names matching a shell-style pattern (timm's ``list_models``)."""
        import fnmatch

        return [n for n in self.names() if fnmatch.fnmatch(n, pattern)]
