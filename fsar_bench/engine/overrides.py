"""``--set key=value`` overrides of frozen config dataclasses, with type checking.

Keys are ``SECTION.FIELD``: ``train.episodes=500`` (the training config) or
``METHOD.FIELD`` (``otam.lam=0.05``, ``ta2n.sc=false``) for a method's config. Values are parsed
into the type of the field's default (bool accepts true/false/1/0/yes/no; None-able fields accept
``none``; a float must be finite: NaN and infinity are refused). Unknown sections or fields
fail with the valid choices.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import typing
from typing import Any

from fsar_bench.errors import FsarError

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def parse_sets(items: list[str]) -> dict[str, dict[str, str]]:
    """``["a.b=1", "a.c=x"]`` -> ``{"a": {"b": "1", "c": "x"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        section, dot, field = key.strip().partition(".")
        if not sep or not dot or not field:
            raise FsarError(f"--set {item!r}: expected SECTION.FIELD=VALUE (train.episodes=500)")
        out.setdefault(section.lower(), {})[field] = value.strip()
    return out


def _target(hint: Any, default: Any) -> Any:
    """The concrete type to parse into: the default's type, else the non-None annotation."""
    if default is not None:
        return type(default)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else str


def _convert(raw: str, default: Any, name: str, kind: Any) -> Any:
    text = raw.lower()
    if text == "none":
        return None
    try:
        if kind is bool:
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError(raw)
        if kind is float:
            value = float(raw)
            if not math.isfinite(value):
                raise FsarError(f"--set {name}={raw}: must be a finite number (not NaN or inf)")
            return value
        if kind is int:
            return int(raw)
        if isinstance(default, tuple):
            return tuple(type(default[0])(x) if default else x for x in raw.split(","))
    except ValueError as err:
        article = "an" if kind.__name__[0] in "aeiou" else "a"
        raise FsarError(
            f"--set {name}={raw}: expected {article} {kind.__name__} (default {default!r})"
        ) from err
    return raw


def apply(config: Any, values: dict[str, str], section: str) -> Any:
    """A copy of the dataclass ``config`` with ``values`` (field -> raw string) applied."""
    fields = {f.name for f in dataclasses.fields(config)}
    hints = typing.get_type_hints(type(config))
    changes = {}
    for name, raw in values.items():
        if name not in fields:
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise FsarError(
                f"--set {section}.{name}: no such field.{hint} Fields: {', '.join(sorted(fields))}"
            )
        default = getattr(config, name)
        kind = _target(hints.get(name), default)
        changes[name] = _convert(raw, default, f"{section}.{name}", kind)
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as err:
        raise FsarError(f"--set {section}: {err}") from err
