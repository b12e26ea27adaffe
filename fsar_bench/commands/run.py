"""``fsar-bench run``: the suite's main job (see :mod:`fsar_bench.engine.run`)."""

from __future__ import annotations

from fsar_bench.commands.common import progress
from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DataOptions, OutputOptions
from fsar_bench.options.features import FeatureOptions
from fsar_bench.options.run import RunOptions


@command
def run(
    *,
    options: RunOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    data: DataOptions,
    output: OutputOptions,
) -> None:
    """Train and evaluate methods on identical episodes; print accuracy and paired differences."""
    from fsar_bench.engine.run import run_benchmark
    from fsar_bench.methods import METHODS
    from fsar_bench.report.console import run_tables
    from fsar_bench.runtime import init_runtime

    req = options.run_request(compute, features)
    base = METHODS.get(options.baseline).name
    source = data.source()
    runtime = init_runtime(req.device)  # under torchrun: this rank (see README)
    ranks = {"runtime": runtime} if runtime.distributed else {}  # alone: run_benchmark's own
    try:
        with progress(source.name, show=runtime.is_main, output=output) as report:
            summaries = run_benchmark(source, req, report, on_cell=report.cell, **ranks)
    finally:
        runtime.close()
    if runtime.is_main:
        report.final(f"{run_tables(summaries, base)}\n\nresults: {req.runs / source.name}")
