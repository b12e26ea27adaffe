"""Writing files so that a result is complete or absent: atomic writes, strict JSON, locks.

Every file the suite writes goes through one of these:

* :func:`atomic_path`: a context manager yielding a temporary path in the target's folder; on
  success the temporary file is fsynced, renamed over the target and the folder fsynced, so a
  kill, a crash or a full disk leaves either the old file or the new one, never a torn one (the
  temporary file is removed on an error). Writers that need a path (safetensors, matplotlib,
  pandas) write there.
* :func:`write_bytes`, :func:`write_text`, :func:`write_json`: the same for data in memory.
  JSON is strict: NaN and Infinity are refused (``allow_nan=False``), so no stored file holds a
  value that is not JSON.
* :func:`locked`: an advisory ``fcntl.flock`` on a lock file, held while a folder is written
  (one writer per run folder, feature store, checkpoint folder or analysis output). The kernel
  releases it when the process dies, so a killed run never leaves a stale lock. A second
  process waits for it (``wait=True``) or stops with a one-line error.

What ``flock`` guarantees on a shared file system depends on that file system: local disks and
NFSv4 honour it across processes; on NFSv3 without a lock manager, or on some FUSE mounts, it
may lock only within one machine (see the README).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fsar_bench.errors import FsarError


def fsync_dir(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (no-op where folders cannot be
    opened, e.g. on some network file systems)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _full(err: OSError, path: Path) -> FsarError:
    """A one-line error for a write that failed (full disk, read-only folder, ...)."""
    what = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only"}
    why = what.get(err.errno, err.strerror or type(err).__name__)
    return FsarError(f"cannot write {path}: {why}; free space or choose another folder")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically and
    durably (module docstring). An ``OSError`` while writing becomes a one-line
    :class:`~fsar_bench.errors.FsarError`; the temporary file is removed either way."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise _full(err, path) from err
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as err:
        raise _full(err, path) from err
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` refusing NaN and Infinity with a one-line error."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as err:
        raise FsarError(f"refusing to store a non-finite number (NaN or Infinity): {err}") from err


def write_json(path: str | Path, obj: Any, *, indent: int | None = 1) -> Path:
    """Strict JSON (sorted keys, no NaN or Infinity) written atomically; returns ``path``."""
    return write_text(path, dumps(obj, sort_keys=True, indent=indent) + "\n")


@contextlib.contextmanager
def locked(lock_file: str | Path, *, wait: bool = True, what: str = "") -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (created if needed) while the block
    runs. ``wait=False``: if another process holds it, stop with a one-line error naming
    ``what`` (default: the lock file's folder)."""
    lock_file = Path(lock_file)
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise _full(err, lock_file) from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError as err:
            name = what or str(lock_file.parent)
            raise FsarError(
                f"{name} is being written by another process; wait for it to finish "
                "(or run the same command again afterwards)"
            ) from err
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
