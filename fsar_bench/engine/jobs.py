"""A run's cells, one after the other or in parallel processes (``--jobs N``).

Why processes: PyTorch's intra-op threads meet at a barrier after every operator, so on a
small CPU two cells in two one-thread processes may waste less than one cell on two threads
(:mod:`fsar_bench.engine.parallel` says the same of evaluation; the README's "Plan, estimate
and parallel cells" has the measurements).

How: the parent prepares the data and features and plans every cell (manifests written) before
any worker starts. Finished cells are read back in the parent. With ``jobs > 1`` the other
cells go, longest estimate first (so that the longest does not start last), to a pool of
``min(jobs, cells)`` processes started with ``spawn`` (a fresh interpreter: no copied threads
or locks) that set ``torch.set_num_threads(1)`` before any work. A worker opens the run's
context once (the stores exist: nothing is extracted; it pools its own training features),
plans the cells again, checks that the cell it was handed has the config the parent planned,
and trains and evaluates it with :func:`~fsar_bench.engine.run.run_cell`. Every cell, in every
mode, runs under an exclusive lock on its run folder
(:meth:`~fsar_bench.results.store.RunDir.lock`), so two processes (two jobs, or two commands)
never write one run; the second waits and then finds it finished. Each cell records its
measured costs (:mod:`fsar_bench.engine.costs`).

Results: a cell's numbers depend on the threads that computed it, not on the process, the
order or ``jobs``: a cell of a ``--jobs 2`` run is byte-identical to the same cell run in one
process with ``torch.set_num_threads(1)`` (``tests/engine/test_jobs.py``), and run ids do not
depend on ``jobs``. With ``jobs > 1`` even a lone remaining cell runs in a one-thread worker, so
a resumed run computes as the unbroken one did.

One job is used under ``torchrun`` and on a GPU by default, and whenever a method's class lives
in ``__main__`` (a notebook or script), which a fresh process cannot import.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from fsar_bench.engine.cells import Cell, checkpoint_folder
from fsar_bench.engine.context import RunContext
from fsar_bench.engine.costs import cell_key, measured, record_cell
from fsar_bench.engine.request import RunRequest
from fsar_bench.methods import METHODS
from fsar_bench.results.state import TrainingState, records_done, training_state
from fsar_bench.results.store import RunDir, config_hash
from fsar_bench.results.summary import RunSummary, read_summary
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource

CellDone = Callable[[int, RunSummary], None]  # (index in the plan, its summary)
# (context, cell) -> summary: fsar_bench.engine.run.run_cell, handed in (run.py imports this)
CellRunner = Callable[[RunContext, Cell], RunSummary]


#: ``--jobs`` when not given: one process with PyTorch's threads, as before ``--jobs``. One
#: one-thread process per core was slower on the project's shared 2-core machine (README,
#: "Plan, estimate and parallel cells"); ``--jobs $(nproc)`` asks for it.
DEFAULT_JOBS = 1


def in_main_module(methods: Sequence[str]) -> bool:
    """Whether a method's class lives in ``__main__`` (a notebook, a script)."""
    return any(METHODS.get(m).factory.split(":")[0] == "__main__" for m in methods)


def resolve_jobs(jobs: int | None, runtime: Runtime, methods: Sequence[str] = ()) -> int:
    """The jobs ``run`` uses: ``--jobs``, else :data:`DEFAULT_JOBS` on a CPU and 1 on a GPU;
    always 1 under ``torchrun`` (its processes already share the work) and for ``methods``
    whose class lives in ``__main__`` (module docstring)."""
    if runtime.distributed or in_main_module(methods):
        return 1
    if jobs is not None:
        return jobs
    return DEFAULT_JOBS if runtime.device.type == "cpu" else 1


def run_folder(ctx: RunContext, cell: Cell) -> Path:
    """The cell's run folder (as :meth:`~fsar_bench.results.store.RunDir.create` names it)."""
    return ctx.req.runs / ctx.source.name / f"{cell.name}-{config_hash(cell.config)}"


def _record(ctx: RunContext, cell: Cell, summary: RunSummary, before: tuple) -> None:
    """Store what the cell cost in this process (nothing for the fine-tuned track)."""
    state, records = before
    step = state.step if state else 0
    validations = len(summary.train_history) - (state.validations if state else 0)
    cost = measured(
        train_seconds=summary.train_seconds,
        trained=summary.train_episodes - step,
        validation_episodes=max(validations, 0) * cell.train.val_episodes,
        eval_seconds=summary.eval_seconds,
        evaluated=cell.setting.episodes - records,
    )
    if cost is None or ctx.clips is not None:
        return
    key = cell_key(
        method=cell.info.name,
        way=cell.setting.way,
        shot=cell.setting.shot,
        backbone=summary.backbone,
        size=summary.size,
        device=str(ctx.runtime.device),
        threads=torch.get_num_threads(),
        jobs=ctx.req.jobs,
    )
    record_cell(ctx.source.cache, key, cost=cost, episodes=summary.train_episodes - step)


def run_locked(ctx: RunContext, cell: Cell, run_cell: CellRunner) -> RunSummary:
    """``run_cell(ctx, cell)`` (which holds the run folder's lock, :meth:`RunDir.lock`),
    recording the cell's costs (from what was trained and evaluated before it started)."""
    folder = run_folder(ctx, cell)
    state: TrainingState | None = training_state(checkpoint_folder(ctx, cell))
    before = (state, records_done(folder / "episodes.jsonl"))
    done = RunDir(path=folder).finished()
    summary = run_cell(ctx, cell)
    if ctx.runtime.is_main and not done:
        _record(ctx, cell, summary, before)
    return summary


def run_cells(
    ctx: RunContext,
    cells: list[Cell],
    run_cell: CellRunner,
    on_cell: CellDone | None = None,
    seconds: Sequence[float] | None = None,
) -> list[RunSummary]:
    """Every cell's summary (``run_cell(ctx, cell)``), in plan order (module docstring);
    ``on_cell`` is told each one as it finishes (in finishing order). ``seconds``: each cell's
    estimated time; parallel cells are handed out longest first (else in plan order)."""
    jobs = ctx.req.jobs
    if (
        jobs > 1
        and not ctx.runtime.distributed
        and not in_main_module([c.info.name for c in cells])
    ):
        task = Task(run=run_cell, source=ctx.source, req=ctx.req)
        return _parallel(ctx, cells, task, on_cell, seconds or [0.0] * len(cells))
    out = []
    for i, cell in enumerate(cells):
        out.append(run_locked(ctx, cell, run_cell))
        if on_cell:
            on_cell(i, out[-1])
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task:
    """One cell for a worker: the cell runner, the run (source, request), the cell's place in
    the plan and its config (``index`` -1: the run's template)."""

    run: CellRunner
    source: DataSource
    req: RunRequest
    index: int = -1
    config: dict = dataclasses.field(default_factory=dict)


def _parallel(
    ctx: RunContext, cells: list[Cell], run: Task, on_cell: CellDone | None, seconds: Sequence
) -> list[RunSummary]:
    """The cells on a pool of spawned workers, the longest (by ``seconds``) first."""
    out: dict[int, RunSummary] = {}
    todo = []
    for i, cell in enumerate(cells):
        if RunDir(path=run_folder(ctx, cell)).finished():
            out[i] = read_summary(run_folder(ctx, cell))
            if on_cell:
                on_cell(i, out[i])
        else:
            todo.append(i)
    todo.sort(key=lambda i: -seconds[i])  # stable: plan order among equals
    run = dataclasses.replace(run, source=dataclasses.replace(run.source))  # memo: not sent
    spawn = multiprocessing.get_context("spawn")
    jobs = min(ctx.req.jobs, len(todo) or 1)
    pool = ProcessPoolExecutor(jobs, spawn, initializer=_init_worker)
    try:
        tasks = {i: dataclasses.replace(run, index=i, config=cells[i].config) for i in todo}
        futures = {pool.submit(_work, task): i for i, task in tasks.items()}
        show = ctx.progress or (lambda stage, done, total: None)
        show("cells", 0, len(todo))
        for k, future in enumerate(as_completed(futures), 1):
            i = futures[future]
            out[i] = read_summary(future.result())
            show("cells", k, len(todo))
            if on_cell:
                on_cell(i, out[i])
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return [out[i] for i in range(len(cells))]


_WORKER: dict = {}  # the worker's run context and cells, opened by its first task


def _init_worker() -> None:
    """A worker process: one intra-op thread (module docstring), and the allocator settings
    the command line gives its own process (:func:`fsar_bench.cpu.tune_cpu`)."""
    from fsar_bench.cpu import tune_cpu

    tune_cpu()
    torch.set_num_threads(1)


def _work(task: Task) -> str:
    """Run one cell in a worker; returns its run folder."""
    from fsar_bench.engine.cells import plan
    from fsar_bench.engine.context import open_context
    from fsar_bench.engine.request import check_request

    if _WORKER.get("req") != task.req:
        runtime = Runtime(device=torch.device(task.req.device))
        ctx = open_context(task.source, task.req, runtime)
        _WORKER.update(req=task.req, ctx=ctx, cells=plan(ctx, check_request(task.req)))
    cell = _WORKER["cells"][task.index]
    if cell.config != task.config:
        raise RuntimeError(f"worker planned another cell {task.index}: {cell.name}")
    return run_locked(_WORKER["ctx"], cell, task.run).dir
