"""The safetensors layout of a feature shard, read and checked before any byte is trusted.

A safetensors file is ``[u64 little-endian header length n][n bytes of JSON header][data]``; the
header maps each tensor's name to its ``dtype``, ``shape`` and ``data_offsets`` (a byte range
of the data section). :func:`shard_layout` checks everything a reader relies on: the header
length fits the file, the header is a JSON object, every dtype is known, every shape is a list
of non-negative integers, every range is ordered, lies inside the data section and holds
exactly ``itemsize x prod(shape)`` bytes, and no two ranges overlap. A file that fails is a
one-line :class:`~fsar_bench.errors.FsarError` (:func:`layout_or_none` returns ``None``
instead), never a traceback, an allocation of a forged size or another tensor's bytes.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.errors import FsarError

ITEMSIZE = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "U16": 2,
    "I16": 2,
    "F16": 2,
    "BF16": 2,
    "U32": 4,
    "I32": 4,
    "F32": 4,
    "U64": 8,
    "I64": 8,
    "F64": 8,
}
MAX_HEADER = 100 << 20  # safetensors' own limit on the header's size


@dataclass(frozen=True, kw_only=True)
class Layout:
    """A checked shard: ``data_start`` (byte offset of the data section) and, per tensor,
    ``(dtype, shape, (lo, hi))`` with ``lo``, ``hi`` relative to ``data_start``."""

    data_start: int
    tensors: dict[str, tuple[str, list[int], tuple[int, int]]]
    metadata: dict[str, str]


def _tensor(name: str, info: object, data_size: int) -> tuple[str, list[int], tuple[int, int]]:
    """One header entry, checked (raises ``ValueError`` naming what is wrong)."""
    if not isinstance(info, dict):
        raise ValueError(f"entry {name!r} is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in ITEMSIZE:
        raise ValueError(f"tensor {name!r} has an unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise ValueError(f"tensor {name!r} has an invalid shape {shape!r}")
    ok = isinstance(offsets, list) and len(offsets) == 2
    if not ok or not all(type(o) is int for o in offsets):
        raise ValueError(f"tensor {name!r} has invalid data offsets {offsets!r}")
    lo, hi = offsets
    if not 0 <= lo <= hi <= data_size:
        raise ValueError(f"tensor {name!r} lies outside the data ({lo}..{hi} of {data_size})")
    if hi - lo != ITEMSIZE[dtype] * math.prod(shape):
        raise ValueError(f"tensor {name!r} holds {hi - lo} bytes, its dtype and shape need more")
    return dtype, shape, (lo, hi)


def _read(path: Path) -> Layout:
    """:func:`shard_layout` raising ``ValueError`` / ``OSError``."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise ValueError("shorter than its 8-byte header length")
        (n,) = struct.unpack("<Q", head)
        if n > min(size - 8, MAX_HEADER):
            raise ValueError(f"header length {n} does not fit the {size}-byte file")
        header = json.loads(fh.read(n))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    tensors = {k: _tensor(k, v, size - 8 - n) for k, v in header.items()}
    spans = sorted((span, k) for k, (_, _, span) in tensors.items())
    for (a, name_a), (b, name_b) in zip(spans, spans[1:]):
        if b[0] < a[1]:
            raise ValueError(f"tensors {name_a!r} and {name_b!r} overlap")
    if not isinstance(meta, dict):
        raise ValueError("the metadata is not a JSON object")
    return Layout(data_start=8 + n, tensors=tensors, metadata=meta)


def shard_layout(path: Path, store: Path | None = None) -> Layout:
    """The checked layout of the safetensors file ``path``, or a one-line error that says to
    delete ``store`` (default: the file's folder) and extract again."""
    try:
        return _read(Path(path))
    except (OSError, ValueError) as err:
        folder = store or Path(path).parent
        raise FsarError(
            f"{path} is not a valid feature shard ({err}); delete {folder} and extract again"
        ) from None


def layout_or_none(path: Path) -> Layout | None:
    """:func:`shard_layout`, or ``None`` for a missing or invalid file."""
    try:
        return _read(Path(path))
    except (OSError, ValueError):
        return None
