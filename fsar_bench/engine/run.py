"""``fsar-bench run`` as a library call: data, features, training and evaluation of several
methods on identical episodes.

:func:`run_benchmark` resolves every config once (:func:`~fsar_bench.engine.request.
check_request`), prepares the data and features (:func:`~fsar_bench.engine.context.
open_context`), plans the cells (:func:`~fsar_bench.engine.cells.plan`: one test manifest per
shot shared by every method, one validation manifest for model selection) and runs each with
:func:`run_cell`: trained on the train split unless a finished checkpoint exists, then
evaluated; finished evaluations are not repeated and interrupted ones continue (see
:mod:`fsar_bench.engine.train`, :mod:`fsar_bench.engine.evaluate`). With ``req.trainings = N``
each (shot, method) is trained N times (training seeds ``train.seed + i``) on one test
manifest; each summary records which training it is (``RunSummary.training``). Every run writes a
:class:`~fsar_bench.results.summary.RunSummary`, which records the method's origin (built-in,
entry point or import path) and factory, the selection and the backbone weight file.

Under ``torchrun`` every rank runs this loop; rank 0 alone writes (data, index, manifests, run
folders, checkpoints, records, summaries) while the others wait or receive its result, and
extraction, training (DDP) and evaluation are split across the ranks. Summaries record
``world_size``; run configs only when it is above 1 (one-process run ids are unchanged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch

from fsar_bench.engine.cells import Cell, checkpoint_folder, plan
from fsar_bench.engine.context import RunContext, open_context
from fsar_bench.engine.evaluate import evaluate
from fsar_bench.engine.inputs import feature_loader
from fsar_bench.engine.jobs import run_cells
from fsar_bench.engine.request import RunRequest, check_request
from fsar_bench.engine.train import TrainData, Trainer, load_best
from fsar_bench.engine.watch import RunWatch
from fsar_bench.files import owned
from fsar_bench.methods import create_method
from fsar_bench.progress import Progress, emit
from fsar_bench.results.stats import CONVENTION, mean_ci
from fsar_bench.results.store import RunDir, accuracies, versions
from fsar_bench.results.summary import RunSummary, Training, read_summary, write_summary
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource

__all__ = ["RunRequest", "run_benchmark", "run_cell", "summarize_accuracy"]


def summarize_accuracy(acc: np.ndarray, repeats: int) -> tuple[dict, str]:
    """Mean and 95% interval over episodes, or over repeat means when ``repeats > 1``.

    With repeats (the ``ita`` protocol: 10 x 600 episodes) the episodes are split in order
    into ``repeats`` equal groups and the interval is taken over the group means, as that paper
    reports; the per-episode interval is kept as well.
    """
    per_episode = dataclasses.asdict(mean_ci(acc))
    if repeats <= 1:
        return per_episode, CONVENTION
    means = acc.reshape(repeats, -1).mean(1)
    out = {**dataclasses.asdict(mean_ci(means)), "per_episode": per_episode}
    return out, f"over {repeats} repeat means: " + CONVENTION


def _val_loader(ctx: RunContext, pooled: bool):
    """Features of the validation manifest's videos (held-out classes: training view 0); the
    bank is built on the first read (a finished training never reads it)."""
    if ctx.selection.mode == "holdout":
        return lambda ids: ctx.bank("train", pooled).load(ids, [0] * len(ids))
    return (lambda ids: ctx.bank("val", pooled).load(ids)) if "val" in ctx.stores else None


def _train_data(ctx: RunContext, cell: Cell) -> TrainData:
    """The trainer's inputs: the run's :class:`FeatureBank` of each split (one gather per
    batch of episodes instead of one store read per video), or decoded clips. The banks are
    built on the first read, so evaluating a finished training reads no training features."""
    setting, val = cell.setting, cell.manifests.get("val")
    if ctx.clips:
        return ctx.clips.train_data(ctx.indexes["train"], val, setting)
    pooled = cell.info.input_kind == "pooled"
    return TrainData(
        index=ctx.indexes["train"],
        views=ctx.stores["train"].meta.views,
        load=lambda ids, views: ctx.bank("train", pooled).load(ids, views),
        val_manifest=val,
        val_load=_val_loader(ctx, pooled),
        way=setting.way,
        shot=setting.shot,
    )


def _train(ctx: RunContext, cell: Cell):
    """Train (or resume, or reuse) one cell's method; returns ``(method, trainer, folder)``.

    The training seed ``cell.train.seed`` (``--seed`` unless ``--set train.seed``) seeds the
    initialisation and the global torch stream (dropout) as well as the episode generator.
    One process trains a checkpoint folder at a time (a lock beside it; a second waits, then
    reuses the finished training).
    """
    torch.manual_seed(cell.train.seed)
    mcfg = cell.config["method_config"]
    if ctx.clips:
        method = ctx.clips.model(cell.info, mcfg)
    else:
        method = create_method(cell.info.name, ctx.stores["test"].meta.channels, **mcfg)
    ckpt = checkpoint_folder(ctx, cell)
    trainer = Trainer(method, cell.train, _train_data(ctx, cell), out_dir=ckpt, runtime=ctx.runtime)

    def report(step: int, total: int, loss: float, val: float) -> None:
        """Episodes trained, the latest validation, the learning rate in use and the mean loss
        of the last validated segment (the log lines of ``fsar_bench.presentation.logs``)."""
        seen = trainer.history[-1]["loss"] if trainer.history else loss
        lr = trainer.opt.param_groups[0]["lr"]
        stage = f"train {cell.name}"
        emit(ctx.progress, stage, step, total, unit="episodes", val=val, lr=lr, loss=seen)

    with owned(ckpt, what=f"training {ckpt}", active=ctx.runtime.is_main):
        trainer.fit(progress=report if ctx.progress else None)
        return load_best(method, ckpt), trainer, ckpt


def _test_loader(ctx: RunContext, cell: Cell):
    if ctx.clips:
        return ctx.clips.test_loader()
    return feature_loader(ctx.stores["test"], cell.info.input_kind == "pooled")


def run_cell(ctx: RunContext, cell: Cell) -> RunSummary:
    """Train (if needed) and evaluate one cell; returns its summary (written on rank 0).

    Holds the run's lock (:meth:`RunDir.lock`): an identical command running meanwhile waits,
    then returns the finished run."""
    rt = ctx.runtime
    run = RunDir.at(ctx.req.runs, ctx.source.name, cell.name, cell.config)
    with run.lock(active=rt.is_main):
        if rt.on_main(lambda: run.finished(cell.config)):
            return read_summary(run.path)
        with run.removed_if_empty(active=rt.is_main):
            return _evaluate_cell(ctx, cell, run)


def _evaluate_cell(ctx: RunContext, cell: Cell, run: RunDir) -> RunSummary:
    """:func:`run_cell`'s work, under the run's lock."""
    rt, test = ctx.runtime, cell.manifests["test"]
    method, trainer, ckpt = _train(ctx, cell)
    rt.on_main(lambda: run.open(cell.config))
    stage = f"test {cell.name}"
    cb = ctx.progress and (lambda i, n: emit(ctx.progress, stage, i, n, unit="episodes"))
    load = _test_loader(ctx, cell)
    result = evaluate(
        method, test, load, device=rt.device, records=run.records, progress=cb, runtime=rt
    )
    acc, convention = summarize_accuracy(accuracies(result.records), cell.setting.repeats)
    summary = RunSummary(
        **{**cell.config, "setting": cell.setting, "world_size": rt.world, "jobs": ctx.req.jobs},
        accuracy=acc,
        interval_convention=convention,
        manifest_file=str(test.path),
        best_val=trainer.best if "val" in cell.manifests else None,
        weights=ctx.req.weights or "",
        train_history=trainer.history,
        stop_reason=trainer.stop_reason,
        train_episodes=trainer.state.step,
        train_seconds=round(trainer.seconds, 1),
        eval_seconds=round(result.seconds, 1),
        versions=versions(),
        device=str(rt.device),
        checkpoint=str(ckpt / "best.safetensors"),
        training=Training(seed=cell.train.seed, index=cell.training, of=cell.trainings),
    )
    if not rt.is_main:  # rank 0 writes it
        return dataclasses.replace(summary, dir=str(run.path))
    return write_summary(run, summary)


def run_benchmark(
    source: DataSource,
    req: RunRequest,
    progress: Progress | None = None,
    runtime: Runtime | None = None,
    *,
    watch: RunWatch | None = None,
    on_cell: Callable[[RunSummary], None] | None = None,
) -> list[RunSummary]:
    """Everything ``fsar-bench run`` does; returns one summary per (shot, training, method).
    ``runtime``: this process under ``torchrun`` (``None``: one process on ``req.device``).
    ``watch``: shown the plan before any work (it may stop the run there: a dry run) and each
    finished cell (:class:`~fsar_bench.engine.watch.RunWatch`). ``on_cell``: called on rank 0
    with each cell's summary as soon as that cell is finished (or found finished). Cells run
    through :func:`~fsar_bench.engine.jobs.run_cells` (``--jobs``)."""
    resolved = check_request(req)
    runtime = runtime or Runtime(device=torch.device(req.device))
    if watch is not None and not watch.start(source, req, resolved, runtime, progress):
        return []
    ctx = open_context(source, req, runtime, progress if runtime.is_main else None)
    seconds = watch.begin() if watch is not None else None

    def done(index: int, summary: RunSummary) -> None:
        if watch is not None:
            watch.cell_done(index, summary)
        if on_cell is not None and runtime.is_main:
            on_cell(summary)

    return run_cells(ctx, plan(ctx, resolved), run_cell, done, seconds)
