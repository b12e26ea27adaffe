"""Independent pieces of work on several cores: worker threads with one intra-op thread each.

PyTorch's intra-op threads (OpenMP) meet at a barrier after every operator, so when another
process holds one of the cores, every operator waits for the slowest thread. Worker threads that
each run whole pieces (an embedding batch, a chunk of episodes) single-threaded never wait for
each other; PyTorch releases the GIL inside operators, so they run in parallel. On a loaded
machine two such workers lose far less than two intra-op threads (timings:
``docs/performance.md``).

Every piece is computed by one thread with one intra-op thread, so results do not depend on the
number of workers. :func:`gc_paused` keeps Python's cyclic garbage collector off while such work
runs (the evaluation loop's many small Python objects would otherwise trigger full collections).

Training across ``torchrun`` processes: :class:`EpisodeLoss` is one training forward (embed a
batch of episodes' videos, compare, loss) as a module, so that
:class:`~torch.nn.parallel.DistributedDataParallel` sees the whole step in one ``forward`` and
averages the gradients over the ranks in ``backward``; :func:`data_parallel` wraps it when there
is more than one process (one process: the module itself, the same operations as before).
DDP runs with ``static_graph=True``: the parameters a training step uses are found in the first
step and assumed the same in every later step. That allows parameters no step uses (TA2N's k-shot
attention in 1-shot episodes) and activation checkpointing, without a search of the autograd
graph in every step (``find_unused_parameters``); a method whose set of used parameters changes
from step to step stops with DDP's error ("Your training graph has changed"). Every built-in
method uses the same parameters in every step (``tests/engine/test_distributed.py``).
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch
from torch import Tensor, nn

from fsar_bench.methods.base import gather_state
from fsar_bench.runtime import Runtime

Item = TypeVar("Item")
Result = TypeVar("Result")


class Workers:
    """``with Workers(n) as w: for item, result in w.ordered(fn, items): ...``.

    With ``n > 1`` PyTorch runs one intra-op thread while the context is open (restored on
    exit) and ``fn`` runs on ``n`` threads; with ``n == 1`` it runs inline. ``fn`` always runs
    without autograd (grad mode is per thread).
    """

    def __init__(self, n: int) -> None:
        self.n = max(1, n)
        self.pool: ThreadPoolExecutor | None = None
        self.threads = torch.get_num_threads()

    def __enter__(self) -> Workers:
        if self.n > 1:
            torch.set_num_threads(1)
            self.pool = ThreadPoolExecutor(self.n)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            torch.set_num_threads(self.threads)

    def ordered(
        self, fn: Callable[[Item], Result], items: Iterable[Item]
    ) -> Iterator[tuple[Item, Result]]:
        """``(item, fn(item))`` in the order of ``items``; at most ``n`` pieces in flight.

        ``items`` is consumed in the calling thread, one item ahead of submission.
        """
        if self.pool is None:
            for item in items:
                with torch.no_grad():
                    result = fn(item)
                yield item, result
            return
        pending: deque = deque()
        for item in items:
            pending.append((item, self.pool.submit(_no_grad, fn, item)))
            if len(pending) >= self.n:
                head, future = pending.popleft()
                yield head, future.result()
        while pending:
            head, future = pending.popleft()
            yield head, future.result()


def _no_grad(fn: Callable[[Item], Result], item: Item) -> Result:
    with torch.no_grad():
        return fn(item)


class EpisodeLoss(nn.Module):
    """A batch of training episodes' mean loss as one ``forward`` (any module with ``embed``,
    ``compare`` and ``loss``, e.g. a method or an end-to-end model)."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, videos: Tensor, support_labels: Tensor, query_labels: Tensor, n_way: int):
        """``videos [E * (S + Q), T, ...]`` (each episode: its ``S`` support, then ``Q`` query
        videos), labels ``[E, S]`` and ``[E, Q]`` -> the method's loss (a scalar)."""
        (e, s), q = support_labels.shape, query_labels.shape[1]
        idx = torch.arange(e * (s + q), device=videos.device).view(e, s + q)
        state = self.method.embed(videos)
        out = self.method.compare(
            gather_state(state, idx[:, :s]), support_labels, gather_state(state, idx[:, s:]), n_way
        )
        return self.method.loss(out, query_labels)


def data_parallel(module: nn.Module, runtime: Runtime) -> nn.Module:
    """``module`` in :class:`~torch.nn.parallel.DistributedDataParallel` under ``torchrun``
    (rank 0's parameters and buffers are sent to every rank), else ``module`` itself."""
    if not runtime.distributed:
        return module
    ids = [runtime.device.index or 0] if runtime.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, static_graph=True)


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector paused (restored on exit).

    An evaluation makes and keeps about ten Python objects per episode (video ids, records) and
    frees nothing cyclic, so each full collection the allocations trigger rescans every object
    the process holds, a large share of a fast evaluation (``docs/performance.md``).
    Reference counting still frees everything acyclic at once.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
