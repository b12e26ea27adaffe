"""Writing files so that a result is complete or absent: atomic writes, strict JSON, locks.

Every file the suite writes goes through one of these:

* :func:`atomic_path`: a context manager yielding a temporary path in the target's folder; on
  success the temporary file is fsynced, renamed over the target and the folder fsynced, so a
  kill, a crash or a full disk leaves either the old file or the new one, never a torn one (the
  temporary file is removed on an error). Writers that need a path (safetensors, matplotlib,
  pandas) write there.
* :func:`write_bytes`, :func:`write_text`, :func:`write_json`: the same for data in memory;
  :func:`atomic_open` for writers that take a file object (``csv``), :func:`save_figure` for
  matplotlib figures.
  JSON is strict: NaN and Infinity are refused (``allow_nan=False``), so no stored file holds a
  value that is not JSON.
* :func:`locked`: an advisory ``fcntl.flock`` on a lock file, held while a folder is written
  (one writer per run folder, feature store, checkpoint folder or analysis output). The kernel
  releases it when the process dies, so a killed run never leaves a stale lock. A second
  process waits for it (``wait=True``) or stops with a one-line error. Where the lock file
  cannot be created (a read-only folder), the block runs unlocked: nothing can be written there
  by this process either, and a write it tries fails with a one-line error.
* :func:`read_json`: a JSON file, or ``None`` when it is missing, torn or empty (a file a
  killed writer of an earlier version left half-written is redone, never trusted).
* :func:`sweep_temps`: removes the temporary files a killed writer left in a folder (called
  under that folder's lock); :func:`owned` does both: the lock of a folder (``.<name>.lock``
  beside it) and the sweep of its temporaries.

Tests inject a kill or a full disk at every write (:mod:`fsar_bench.faults`).

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
from typing import IO, Any

from fsar_bench import faults
from fsar_bench.errors import FsarError

TEMP_SUFFIX = ".tmp"


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


def write_error(err: OSError, path: Path, what: str = "") -> FsarError:
    """A one-line error for a write that failed (full disk, read-only folder, ...);
    ``what``: what the file is (``"the episode manifest"``)."""
    reason = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only"}
    why = reason.get(err.errno, err.strerror or type(err).__name__)
    full = err.errno == errno.ENOSPC
    fix = "free space or choose another folder" if full else "choose a writable folder"
    return FsarError(f"cannot write {what + ' ' if what else ''}{path}: {why}; {fix}")


@contextlib.contextmanager
def atomic_path(path: str | Path, what: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` atomically and
    durably (module docstring). An ``OSError`` while writing becomes a one-line
    :class:`~fsar_bench.errors.FsarError` (naming ``what`` the file is, if given); the
    temporary file is removed either way."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    except OSError as err:
        raise write_error(err, path, what) from err
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        faults.point(path)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except OSError as err:
        raise write_error(err, path, what) from err
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | Path, data: bytes, what: str = "") -> Path:
    """Write ``data`` to ``path`` atomically and durably; returns ``path``."""
    with atomic_path(path, what) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and durably; returns ``path``."""
    return write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file object (text: UTF-8, ``newline=""`` for the csv module) whose content replaces
    ``path`` atomically and durably when the block ends without an error."""
    text = "b" not in mode
    opts = {"encoding": "utf-8", "newline": ""} if text else {}
    with atomic_path(path) as tmp, open(tmp, mode, **opts) as fh:
        yield fh


def save_figure(fig: Any, path: str | Path, **kwargs: Any) -> Path:
    """``fig.savefig`` (matplotlib) to ``path`` atomically; the format is the path's suffix."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=Path(path).suffix.lstrip("."), **kwargs)
    return Path(path)


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` refusing NaN and Infinity with a one-line error."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError as err:
        raise FsarError(f"refusing to store a non-finite number (NaN or Infinity): {err}") from err


def write_json(path: str | Path, obj: Any, *, indent: int | None = 1) -> Path:
    """Strict JSON (sorted keys, no NaN or Infinity) written atomically; returns ``path``."""
    return write_text(path, dumps(obj, sort_keys=True, indent=indent) + "\n")


def read_json(path: str | Path) -> Any | None:
    """The JSON value in ``path``; ``None`` when it is missing, empty, torn or not JSON."""
    try:
        return json.loads(Path(path).read_bytes())
    except (OSError, ValueError):
        return None


def sweep_temps(folder: str | Path) -> None:
    """Remove the temporary files of :func:`atomic_path` that killed writers left in
    ``folder`` (call it holding the folder's lock, so no live writer's file is removed)."""
    for tmp in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):  # a read-only folder: nothing to clean
            tmp.unlink()


_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _open_lock(lock_file: Path) -> int | None:
    """A descriptor of the lock file (created if needed; read-only if it exists in a read-only
    folder); ``None`` where it cannot be created in a read-only folder."""
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        if err.errno not in _READ_ONLY:
            raise write_error(err, lock_file) from err
    try:
        return os.open(lock_file, os.O_RDONLY)
    except OSError:
        return None


@contextlib.contextmanager
def locked(
    lock_file: str | Path, *, wait: bool = True, what: str = "", active: bool = True
) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_file`` (created if needed) while the block
    runs. ``wait=False``: if another process holds it, stop with a one-line error naming
    ``what`` (default: the lock file's folder). ``active=False`` (a ``torchrun`` rank other
    than 0, which writes nothing): no lock. A read-only folder: no lock (module docstring)."""
    lock_file = Path(lock_file)
    if not active:
        yield
        return
    fd = _open_lock(lock_file)
    if fd is None:  # nothing can be written here: reading needs no lock
        yield
        return
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


@contextlib.contextmanager
def owned(
    folder: str | Path, *, what: str = "", active: bool = True, subfolders: tuple[str, ...] = ()
) -> Iterator[None]:
    """Write ``folder`` as its one writer: hold its lock (``.<name>.lock`` beside it, so the
    folder itself may be created, replaced or removed meanwhile) and first remove the
    temporaries killed writers left in it and in ``subfolders``. ``active=False``: neither
    (a ``torchrun`` rank other than 0)."""
    folder = Path(folder)
    lock = folder.parent / f".{folder.name}.lock"
    with locked(lock, what=what or str(folder), active=active):
        for sub in (folder, *(folder / s for s in subfolders)) if active else ():
            if sub.is_dir():
                sweep_temps(sub)
        yield
