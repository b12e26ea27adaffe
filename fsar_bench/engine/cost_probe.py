"""A short probe of a cell's costs, for the run estimate when this machine has measured none.

Inputs are random tensors of the cell's shape (``[T, C]`` pooled or ``[T, C, h, w]`` maps);
operators cost the same on random values as on features.

* Training: one warm-up step, then the median of :data:`TIMED_STEPS` timed optimiser steps,
  all of the cell's batch (at most :data:`MAX_BATCH` episodes) of ``way * (shot + query)``
  videos each, each step on new inputs drawn before its clock starts: seconds per training
  episode. The step's fixed costs (Python, autograd, the optimiser) spread over the batch as in
  training; a smaller probe batch overstated the pooled methods' cost, and inputs drawn inside
  the clock overstated TA2N's (``docs/performance.md``, "The default run, end to end").
* Evaluation: the evaluation loop embeds each distinct video of a manifest once and then scores
  the episodes, so an episode costs ``compare + embed * videos_per_episode``, with the test
  manifest's distinct videos per episode; ``embed`` (per video) and ``compare`` (per episode)
  are timed separately without gradients.

Data loading is not timed: the probe is rough, and the first real cell of that kind replaces it
(``<cache>/costs.json``, :mod:`fsar_bench.engine.costs`). It runs at the threads the cells will
run at.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch

from fsar_bench.engine.cells import Cell
from fsar_bench.engine.costs import CellCost
from fsar_bench.engine.parallel import EpisodeLoss
from fsar_bench.engine.schedule import make_optimizer
from fsar_bench.features.cache import StoreMeta
from fsar_bench.methods import create_method
from fsar_bench.methods.base import gather_state

#: The largest batch the probe times (the presets' largest is 16).
MAX_BATCH = 16
#: Timed training steps after the warm-up; the probe takes their median.
TIMED_STEPS = 3


def _videos(meta: StoreMeta, n: int, pooled: bool, gen: torch.Generator) -> torch.Tensor:
    """Random inputs of ``n`` videos: ``[n, T, C]`` pooled or ``[n, T, C, h, w]``."""
    shape = (n, meta.frames, meta.channels) + (() if pooled else tuple(meta.map_size))
    return torch.randn(shape, generator=gen)


def _labels(way: int, each: int, episodes: int) -> torch.Tensor:
    return torch.arange(way).repeat_interleave(each).expand(episodes, way * each)  # [E, way*each]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _train_seconds(method, cell: Cell, meta: StoreMeta, gen: torch.Generator) -> float:
    """Seconds per training episode (module docstring)."""
    way, shot, cfg = cell.setting.way, cell.setting.shot, cell.train
    pooled = cell.info.input_kind == "pooled"
    loss = EpisodeLoss(method)
    params = [p for p in method.parameters() if p.requires_grad]
    opt = make_optimizer(params, cfg, torch.device("cpu")) if params else None

    e = min(cfg.batch, MAX_BATCH)
    support, query = _labels(way, shot, e), _labels(way, cfg.query, e)

    def step(x: torch.Tensor) -> None:
        loss(x, support, query, way).backward()
        if opt is not None:
            opt.step()
            opt.zero_grad(set_to_none=True)

    def draw() -> torch.Tensor:  # new inputs for every step, as training reads new episodes
        return _videos(meta, e * way * (shot + cfg.query), pooled, gen)

    step(draw())  # warm-up at the timed shape: first-call allocations and kernel choices
    times = []
    for _ in range(TIMED_STEPS):
        times.append(_timed(functools.partial(step, draw())))  # drawn outside the clock
    return statistics.median(times) / e


def _eval_seconds(method, cell: Cell, meta: StoreMeta, gen: torch.Generator) -> float:
    """Seconds per evaluated episode (module docstring)."""
    way, shot, q, n = cell.setting.way, cell.setting.shot, cell.setting.query, 2
    s = way * shot
    x = _videos(meta, n * way * (shot + q), cell.info.input_kind == "pooled", gen)
    idx = torch.arange(len(x)).view(n, -1)  # [n, S + Q]
    method.eval()
    with torch.no_grad():
        method.embed(x[:1])  # warm-up
        state = {}
        embed = _timed(lambda: state.update(method.embed(x))) / len(x)
        sup, qry = gather_state(state, idx[:, :s]), gather_state(state, idx[:, s:])
        labels = _labels(way, shot, n)
        method.compare(sup, labels, qry, way)  # warm-up
        compare = _timed(lambda: method.compare(sup, labels, qry, way)) / n
    test = cell.manifests["test"]
    return compare + embed * len(test.videos) / len(test.episodes)


def probe_cell(cell: Cell, meta: StoreMeta, *, threads: int) -> CellCost:
    """Seconds per training episode and per evaluated episode of ``cell`` on features shaped as
    ``meta`` describes, at ``threads`` intra-op threads (module docstring)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        torch.manual_seed(0)
        method = create_method(cell.info.name, meta.channels, **cell.config["method_config"])
        train = _train_seconds(method, cell, meta, gen)
        evaluate = _eval_seconds(method, cell, meta, gen)
    finally:
        torch.set_num_threads(before)
    return CellCost(train=train, eval=evaluate, source="probe")
