"""A run's plan before any work: its cells, what each has on disk, and the estimate.

:func:`survey` opens a *draft* context (the data prepared and indexed; no feature extracted, no
manifest written: :func:`~fsar_bench.engine.context.open_context` with ``draft``), plans the
cells exactly as the run will (:func:`~fsar_bench.engine.cells.plan`: the same run configs,
hence the same run folders and checkpoint folders), reads what each cell has (a finished run,
a trained or partial checkpoint, test records) and estimates the time left
(:mod:`fsar_bench.engine.estimate`), probing the methods this machine has no measured cost for
(:mod:`fsar_bench.engine.cost_probe`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from fsar_bench.engine.cells import Cell, checkpoint_folder, plan
from fsar_bench.engine.context import Progress, RunContext, open_context
from fsar_bench.engine.cost_probe import probe_cell
from fsar_bench.engine.costs import CellCost, cell_cost, cell_key, read_costs
from fsar_bench.engine.estimate import CellState, RunPlan, estimate_run, frame_seconds
from fsar_bench.engine.jobs import run_folder
from fsar_bench.engine.pending import PendingStore
from fsar_bench.engine.request import Resolved, RunRequest
from fsar_bench.engine.schedule import recorded
from fsar_bench.errors import FsarError
from fsar_bench.results.state import records_done, training_state
from fsar_bench.results.store import RunDir
from fsar_bench.results.summary import RunSummary, read_summary
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource


def cell_state(ctx: RunContext, index: int, cell: Cell, threads: int) -> CellState:
    """What is on disk for ``cell`` (its run folder, its checkpoint folder)."""
    folder = run_folder(ctx, cell)
    cfg, req = cell.config, ctx.req
    key = cell_key(
        method=cell.info.name,
        way=cell.setting.way,
        shot=cell.setting.shot,
        backbone=cfg.get("backbone", req.backbone),
        size=cfg.get("size", req.size or 0),
        device=str(ctx.runtime.device),
        threads=threads,
        jobs=req.jobs,
    )
    return CellState(
        index=index,
        method=cell.info.name,
        dataset=ctx.source.name,
        way=cell.setting.way,
        shot=cell.setting.shot,
        preset=req.preset,
        training=cell.training,
        trainings=cell.trainings,
        train_config=recorded(cell.train),
        budget=cell.train.episodes,
        val_every=cell.train.val_every,
        val_episodes=cell.train.val_episodes,
        validates="val" in cell.manifests,
        test_episodes=cell.setting.episodes,
        records=records_done(folder / "episodes.jsonl"),
        finished=RunDir(path=folder).finished(),
        checkpoint=training_state(checkpoint_folder(ctx, cell)),
        run_dir=folder,
        cost_key=key,
    )


def earlier_runs(runs: Path, dataset: str) -> list[RunSummary]:
    """The finished runs of ``dataset`` in the results folder (their training episodes); a
    torn or foreign summary is left out (its run is redone, not trusted)."""
    out = []
    for path in sorted((runs / dataset).glob("*/summary.json")):
        try:
            out.append(read_summary(path.parent))
        except FsarError:
            continue
    return out


def _coster(ctx: RunContext, cells: list[Cell], threads: int, probe: bool):
    """``cost_of(state)``: measured costs, else a probe (``probe``; not for the fine-tuned
    track or under ``torchrun``), else ``None``."""
    costs = read_costs(ctx.source.cache)
    probed: dict[str, CellCost] = {}

    def cost_of(state: CellState) -> CellCost | None:
        found = cell_cost(costs, state.cost_key)
        if found is not None or not probe or ctx.clips is not None or ctx.runtime.distributed:
            return found
        if state.cost_key not in probed:
            meta = ctx.stores["test"].meta
            probed[state.cost_key] = probe_cell(cells[state.index], meta, threads=threads)
        return probed[state.cost_key]

    return cost_of


def survey(
    source: DataSource,
    req: RunRequest,
    resolved: dict[tuple[str, int], Resolved],
    runtime: Runtime,
    progress: Progress | None = None,
    *,
    probe: bool = True,
) -> RunPlan:
    """The run's :class:`~fsar_bench.engine.estimate.RunPlan` (module docstring); ``resolved``:
    :func:`~fsar_bench.engine.request.check_request`'s configs. ``probe=False``: cells without
    a measured cost are left out of the estimate."""
    ctx = open_context(source, req, runtime, progress if runtime.is_main else None, draft=True)
    cells = plan(ctx, resolved)
    threads = 1 if req.jobs > 1 else torch.get_num_threads()
    states = [cell_state(ctx, i, c, threads) for i, c in enumerate(cells)]
    estimates = estimate_run(
        states, _coster(ctx, cells, threads, probe), earlier_runs(req.runs, source.name)
    )
    pending = {s: p.frames for s, p in ctx.stores.items() if isinstance(p, PendingStore)}
    extract = None
    if pending:
        frame = frame_seconds(
            read_costs(source.cache),
            backbone=req.backbone,
            size=ctx.stores["test"].meta.size,
            device=str(runtime.device),
            threads=torch.get_num_threads(),
        )
        extract = frame * sum(pending.values()) if frame is not None else None
    return RunPlan(
        dataset=source.name,
        jobs=req.jobs,
        threads=threads,
        cells=tuple(states),
        estimates=estimates,
        extract_frames=pending,
        extract_seconds=extract if pending else 0.0,
        load=os.getloadavg()[0],
        cores=len(os.sched_getaffinity(0)),
    )
