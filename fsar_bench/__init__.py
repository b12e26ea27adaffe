"""fsar-bench: a benchmark and misalignment-analysis suite for few-shot action recognition.

Importing this package is cheap: it imports neither torch, numpy nor pandas, so that
``fsar-bench --help`` and ``fsar-bench ls`` start fast. The Python API (:func:`run`,
:func:`load_runs`, :func:`compare`; ``docs/python-api.md``) lives in :mod:`fsar_bench.api`,
loaded on first use of one of its names.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = ("run", "load_runs", "compare", "Results")
__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    """``fsar_bench.run`` and the other API names, imported on first use (PEP 562)."""
    if name in _API:
        return getattr(importlib.import_module("fsar_bench.api"), name)
    raise AttributeError(f"module 'fsar_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
