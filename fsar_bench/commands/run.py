"""``fsar-bench run``: the suite's main job (see :mod:`fsar_bench.engine.run`); the same path as
:func:`fsar_bench.run` (:func:`fsar_bench.api.run_groups`)."""

from __future__ import annotations

from fsar_bench.commands.options import command
from fsar_bench.options.common import ComputeOptions, DataOptions, OutputOptions
from fsar_bench.options.features import FeatureOptions
from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.options.run import RunOptions


@command
def run(
    *,
    options: RunOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    data: DataOptions,
    intervals: IntervalOptions,
    output: OutputOptions,
) -> None:
    """Train and evaluate methods on identical episodes; print the plan and an estimate first,
    then accuracy and paired differences (--dry-run: the plan only)."""
    from fsar_bench.api import run_groups

    run_groups(
        options=options,
        features=features,
        compute=compute,
        data=data,
        intervals=intervals,
        output=output,
        final=True,
    )
