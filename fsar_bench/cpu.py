"""Process settings for the CPU, applied by the command line before torch is imported (and by
each ``--jobs`` worker process). Imports nothing heavy."""

from __future__ import annotations

import ctypes
import os


def tune_cpu() -> None:
    """Process settings for CPU inference on a shared machine; effective before torch is imported.

    * ``OMP_WAIT_POLICY=PASSIVE`` (unless set): idle OpenMP threads sleep instead of spinning.
    * glibc ``mallopt``: freed activation buffers stay in the heap (mmap and trim thresholds
      1 GiB) instead of going back to the OS (page faults per batch of frames).

    Together they raise the forward rate several times on a shared machine (measured:
    ``docs/performance.md``; ``benchmarks/bench_extract.py`` applies the same settings).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
        libc.mallopt(-3, 1 << 30)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc
        pass
