"""The one atomic-write helper, strict JSON and the advisory lock (fsar_bench.files)."""

from __future__ import annotations

import errno
import math

import pytest

from fsar_bench.errors import FsarError
from fsar_bench.files import atomic_path, locked, write_json, write_text


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = write_text(tmp_path / "a.json", "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_full_disk_is_a_one_line_error_and_the_old_file_stays(tmp_path):
    target = write_text(tmp_path / "a.txt", "old")
    with pytest.raises(FsarError, match="disk is full") as err, atomic_path(target):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert "\n" not in str(err.value)
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_json_refuses_nan_and_infinity(tmp_path):
    for bad in (math.nan, math.inf, -math.inf):
        with pytest.raises(FsarError, match="non-finite"):
            write_json(tmp_path / "s.json", {"mean": bad})
    assert not (tmp_path / "s.json").exists()
    write_json(tmp_path / "s.json", {"b": 1, "a": 2.5})
    assert (tmp_path / "s.json").read_text() == '{\n "a": 2.5,\n "b": 1\n}\n'


def test_a_held_lock_stops_a_second_writer_that_does_not_wait(tmp_path):
    lock = tmp_path / "run" / ".lock"
    with locked(lock):
        with pytest.raises(FsarError, match="being written by another process"):
            with locked(lock, wait=False, what="run X"):
                pass
    with locked(lock, wait=False):  # released when the first block ended
        pass
