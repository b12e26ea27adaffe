"""Typed result records written as JSON: :class:`JsonRecord`, the base of every analysis result.

A record is a ``@dataclass(frozen=True, kw_only=True)`` that inherits :class:`JsonRecord`.
``to_json()`` gives the JSON object (fields in declaration order, nested records as objects,
tuples as lists, NaN and infinities as ``null`` so the file is strict JSON); ``from_json()``
rebuilds the record from such an object, nested records and tuples included, from the field
types (``null`` in a ``float`` field reads as NaN, as it was before it was written). Field
metadata (:func:`absent_when_none`, :func:`json_name`, :func:`inline`) say how a field is
written:

* ``absent_when_none``: the key is left out when the value is ``None`` (a part that only some
  datasets have, e.g. the ground-truth check of a synthetic dataset);
* ``json_name``: the key differs from the field name (``"class"`` is a Python keyword);
* ``inline``: a nested record's keys are written into the parent object, in its place.

Keys a record does not know are ignored on reading (a newer writer may add some); a missing
key without a default is a one-line error naming the record and the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from functools import cache
from typing import Any, TypeVar

from fsar_bench.errors import FsarError

R = TypeVar("R", bound="JsonRecord")
ABSENT_WHEN_NONE = "absent_when_none"
JSON_NAME = "json_name"
INLINE = "inline"


def absent_when_none(default: Any = None) -> Any:
    """A field left out of the JSON object while it is ``None`` (default ``None``)."""
    return dataclasses.field(default=default, metadata={ABSENT_WHEN_NONE: True})


def json_name(name: str) -> Any:
    """A required field written under the key ``name``."""
    return dataclasses.field(metadata={JSON_NAME: name})


def inline() -> Any:
    """A required nested record whose keys are written into the parent object."""
    return dataclasses.field(metadata={INLINE: True})


def _plain(value: Any) -> Any:
    """JSON value of ``value``: records as objects, tuples as lists, non-finite floats ``None``."""
    if isinstance(value, JsonRecord):
        return value.to_json()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _is_record(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, JsonRecord)


def _nullable(tp: Any) -> bool:
    """Whether ``null`` may stand for a value of type ``tp`` (``None`` allowed, or NaN)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    return tp in (float, Any) or (origin in (typing.Union, types.UnionType) and type(None) in args)


def _typed(tp: Any, value: Any) -> Any:
    """``value`` (read from JSON) as the annotated type ``tp`` (``null`` as NaN for ``float``)."""
    if value is None:
        if not _nullable(tp):
            raise FsarError(f"null where a {getattr(tp, '__name__', tp)} belongs")
        return math.nan if tp is float else None
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return _typed(inner[0], value) if len(inner) == 1 else value
    if _is_record(tp):
        return tp.from_json(value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], v) for v in value)
        return tuple(_typed(a, v) for a, v in zip(args, value)) if args else tuple(value)
    if origin is list:
        return [_typed(args[0], v) for v in value] if args else list(value)
    if origin is dict and args:
        return {k: _typed(args[1], v) for k, v in value.items()}
    return value


class JsonRecord:
    """Base of the typed result records (see the module docstring)."""

    def to_json(self) -> dict[str, Any]:
        """The JSON object of this record (strict JSON: no NaN)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get(INLINE):
                out.update(value.to_json())
            elif not (value is None and f.metadata.get(ABSENT_WHEN_NONE)):
                out[f.metadata.get(JSON_NAME, f.name)] = _plain(value)
        return out

    @classmethod
    def from_json(cls: type[R], data: dict[str, Any]) -> R:
        """The record written as ``data`` (:meth:`to_json`'s output)."""
        if not isinstance(data, dict):
            raise FsarError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        hints, values = _hints(cls), {}
        for f in dataclasses.fields(cls):
            key = f.metadata.get(JSON_NAME, f.name)
            if f.metadata.get(INLINE):
                values[f.name] = hints[f.name].from_json(data)
            elif key in data:
                try:
                    values[f.name] = _typed(hints[f.name], data[key])
                except FsarError as err:
                    raise FsarError(f"{cls.__name__}.{key}: {err}") from None
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise FsarError(f"{cls.__name__}: no {key!r} in the JSON object")
        return cls(**values)
