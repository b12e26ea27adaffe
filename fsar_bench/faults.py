"""Fault injection for the crash tests (``tests/faults``): a kill or a full disk at one write.

``FSAR_FAULT=<action>:<pattern>[:<n>]`` makes the ``n``-th write (default the first) in this
process of a file matching the shell pattern ``pattern`` fail (a pattern with a ``/`` is matched
against the file's absolute path, ``*`` crossing folders; else against its name):

* ``kill``: the process sends itself ``SIGKILL`` (nothing is cleaned up, as when a machine or
  the out-of-memory killer stops it);
* ``enospc``: an ``OSError(ENOSPC)`` is raised, as when the disk is full.

The points are every atomic write of :mod:`fsar_bench.files` (after the temporary file is
written, before it is made durable and renamed: a kill leaves the old file and a temporary
one) and every append to a records file (:class:`~fsar_bench.results.store.RecordSink`, after
half of the chunk is written: a kill leaves a torn last line). Unset (always, outside the
tests), :func:`point` returns at once.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import signal

ENV = "FSAR_FAULT"
ACTIONS = ("kill", "enospc")
_seen: dict[str, int] = {}


def armed() -> bool:
    """Whether a fault is asked for in this process."""
    return bool(os.environ.get(ENV))


def point(path: str | os.PathLike) -> None:
    """A write of the file ``path`` reached its fault point (see the module docstring)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    action, _, rest = spec.partition(":")
    pattern, _, nth = rest.rpartition(":") if rest.count(":") else (rest, "", "1")
    target = os.path.abspath(path) if "/" in pattern else os.path.basename(path)
    if action not in ACTIONS or not fnmatch.fnmatchcase(target, pattern):
        return
    _seen[spec] = _seen.get(spec, 0) + 1
    if _seen[spec] != int(nth or 1):
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
