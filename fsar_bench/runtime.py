"""Where the work runs: one device, and this process's place among ``torchrun`` processes.

A :class:`Runtime` is the one owner of the device and of the process group. Commands make it once
(:func:`init_runtime`) and pass it on. Under ``torchrun`` (``WORLD_SIZE > 1``) it joins the
process group (gloo on CPU, NCCL on CUDA; ``LOCAL_RANK`` picks the GPU); alone it is rank 0 of 1
and every collective is a no-op, so single-process code paths need no special case.

What runs where:

* work that writes shared files (generating a synthetic dataset, building the index, claiming a
  feature-store folder, writing results) runs on rank 0 inside :meth:`Runtime.main_first`; the
  other ranks wait at a barrier, then read what rank 0 wrote;
* work split across ranks takes every ``world``-th item from ``rank`` (:meth:`Runtime.mine`), so
  each item is computed exactly as a single process computes it;
* a decision or a file's content that every rank must share (a run already finished, records to
  resume from) is made on rank 0 and sent to the others (:meth:`Runtime.on_main`,
  :meth:`Runtime.broadcast`), so no rank reads a file while rank 0 writes it.

"The same bytes as one process" holds for the same threads per process: on the CPU, PyTorch's
kernels round differently with a different thread count (measured: EfficientNet-Lite0 maps of
one process with 2 threads differ in the last bits from ``torchrun``'s default of
``OMP_NUM_THREADS=1`` per process, and equal one process run with ``OMP_NUM_THREADS=1``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from fsar_bench.errors import FsarError

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """The device and this process's rank among ``world`` processes."""

    device: torch.device
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def mine(self, items: Sequence[T]) -> list[T]:
        """This rank's share: ``items[rank::world]``."""
        return list(items[self.rank :: self.world])

    def main_first(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on rank 0, then on the others once rank 0 is done (they usually read)."""
        if self.is_main:
            out = fn()
            self.barrier()
            return out
        self.barrier()
        return fn()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (picklable; the others' ``obj`` is ignored)."""
        if not self.distributed:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def on_main(self, fn: Callable[[], T]) -> T:
        """``fn()`` run on rank 0 only; its result on every rank."""
        return self.broadcast(fn() if self.is_main else None)

    def close(self) -> None:
        """Leave the process group (at the end of a command)."""
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` in rank order (picklable objects; on every rank)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, obj)
        return out


def pick_device(name: str | None = None) -> torch.device:
    """``name`` if given, else CUDA when present, else CPU."""
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise FsarError(f"--device {name!r}: not a device; use cpu, cuda or cuda:N") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise FsarError(f"--device {name}: CUDA is not available here; use --device cpu")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _env_int(name: str, default: str) -> int:
    """An integer environment variable, or a one-line error."""
    text = os.environ.get(name, default)
    try:
        return int(text)
    except ValueError:
        raise FsarError(f"{name}={text!r}: expected an integer (set by torchrun)") from None


def _check_launcher(world: int) -> None:
    """Under ``WORLD_SIZE > 1`` the variables a process group needs, set by ``torchrun``, must
    be there (a hand-set ``WORLD_SIZE`` would wait forever for processes that never come)."""
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise FsarError(
            f"WORLD_SIZE={world} without {', '.join(missing)}: start several processes with "
            "torchrun (see the README), or unset WORLD_SIZE to run one"
        )
    rank = _env_int("RANK", "0")
    if not 0 <= rank < world:
        raise FsarError(f"RANK={rank} is outside 0..{world - 1} (WORLD_SIZE={world})")


def init_runtime(device: str | None = None) -> Runtime:
    """This process's runtime; joins the ``torchrun`` process group when there is one."""
    dev = pick_device(device)
    world = _env_int("WORLD_SIZE", "1")
    if world <= 1:
        return Runtime(device=dev)
    _check_launcher(world)
    if not torch.distributed.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend)
    if dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    return Runtime(device=dev, rank=torch.distributed.get_rank(), world=world)
