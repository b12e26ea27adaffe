"""A short probe of a cell's costs, for the run estimate when this machine has measured none.

A few optimiser steps of the method on random tensors of the cell's shape (``batch`` episodes of
``way * (shot + query)`` videos, ``[T, C]`` pooled or ``[T, C, h, w]`` maps), timed after one
warm-up step, give the seconds per training episode; forwards without gradients of a few test
episodes give the seconds per evaluated episode. Operators cost the same on random values as on
features, but data loading is not timed and the evaluation loop embeds a video once per manifest
rather than once per episode: the probe is rough, and the first real cell of that kind replaces
it (``<cache>/costs.json``, :mod:`fsar_bench.engine.costs`). It runs at the threads the cells
will run at.
"""

from __future__ import annotations

import time

import torch

from fsar_bench.engine.cells import Cell
from fsar_bench.engine.costs import CellCost
from fsar_bench.engine.parallel import EpisodeLoss
from fsar_bench.engine.schedule import make_optimizer
from fsar_bench.features.cache import StoreMeta
from fsar_bench.methods import create_method


def _videos(meta: StoreMeta, n: int, pooled: bool, gen: torch.Generator) -> torch.Tensor:
    """Random inputs of ``n`` videos: ``[n, T, C]`` pooled or ``[n, T, C, h, w]``."""
    shape = (n, meta.frames, meta.channels) + (() if pooled else tuple(meta.map_size))
    return torch.randn(shape, generator=gen)


def _labels(way: int, each: int, episodes: int) -> torch.Tensor:
    return torch.arange(way).repeat_interleave(each).expand(episodes, way * each)  # [E, way*each]


def _seconds(fn, repeats: int) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def probe_cell(cell: Cell, meta: StoreMeta, *, threads: int, steps: int = 2) -> CellCost:
    """Seconds per training episode and per evaluated episode of ``cell`` on features shaped as
    ``meta`` describes, at ``threads`` intra-op threads (module docstring)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        method = create_method(cell.info.name, meta.channels, **cell.config["method_config"])
        pooled = cell.info.input_kind == "pooled"
        way, shot, train = cell.setting.way, cell.setting.shot, cell.train
        loss = EpisodeLoss(method)
        params = [p for p in method.parameters() if p.requires_grad]
        opt = make_optimizer(params, train, torch.device("cpu")) if params else None
        e = train.batch
        x = _videos(meta, e * way * (shot + train.query), pooled, gen)
        sup, qry = _labels(way, shot, e), _labels(way, train.query, e)

        def step() -> None:
            loss(x, sup, qry, way).backward()
            if opt is not None:
                opt.step()
                opt.zero_grad(set_to_none=True)

        per_train = _seconds(step, steps) / e
        method.eval()
        q, n = cell.setting.query, 4
        xt = _videos(meta, n * way * (shot + q), pooled, gen)
        sup_t, qry_t = _labels(way, shot, n), _labels(way, q, n)
        with torch.no_grad():
            per_eval = _seconds(lambda: loss(xt, sup_t, qry_t, way), 1) / n
    finally:
        torch.set_num_threads(before)
    return CellCost(train=per_train, eval=per_eval, source="probe")
