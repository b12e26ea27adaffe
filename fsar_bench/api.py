"""The Python API: :func:`run`, :func:`load_runs`, :func:`compare` (``docs/python-api.md``).

``import fsar_bench`` does not import this module; ``fsar_bench.run`` and the others load it on
first use (and it imports torch, numpy and pandas only inside the functions).

:func:`run` takes exactly the options of ``fsar-bench run``, by their field names in the option
groups (:class:`~fsar_bench.options.run.RunOptions`,
:class:`~fsar_bench.options.features.FeatureOptions`,
:class:`~fsar_bench.options.common.ComputeOptions`,
:class:`~fsar_bench.options.common.DataOptions`,
:class:`~fsar_bench.options.intervals.IntervalOptions`), builds the same groups and goes down
the same path as the command (:func:`run_groups`, which ``fsar-bench run`` calls too). Methods
may be given as classes (:class:`~fsar_bench.methods.base.FewShotMethod` subclasses): they run as
their import path ``module:QualName`` (``docs/your-method.md``), so a class defined at the top
level of a notebook or script (``__main__``) works; such a run uses one job.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fsar_bench.errors import FsarError
from fsar_bench.options.common import ComputeOptions, DataOptions, OutputOptions
from fsar_bench.options.features import FeatureOptions
from fsar_bench.options.intervals import IntervalOptions
from fsar_bench.options.run import RunOptions
from fsar_bench.options.spelling import spelling

if TYPE_CHECKING:
    import pandas as pd

    from fsar_bench.engine.estimate import RunPlan
    from fsar_bench.results.summary import RunSummary

__all__ = ["Results", "compare", "load_runs", "run", "run_groups"]

#: keyword-argument group of :func:`run` -> its option group
GROUPS = {
    "options": RunOptions,
    "features": FeatureOptions,
    "compute": ComputeOptions,
    "data": DataOptions,
    "intervals": IntervalOptions,
    "output": OutputOptions,
}


@dataclass(frozen=True, kw_only=True)
class Results:
    """What :func:`run` returns.

    Attributes:
        summaries: one :class:`~fsar_bench.results.summary.RunSummary` per cell (none after a
            dry run). plan: the plan and estimate shown before the work.
        baseline: the method paired differences compare to. runs_dir: where the runs are.
        intervals: what the printed intervals cover (``--ci``).
        main: this process shows results (under ``torchrun``, rank 0 only).
    """

    summaries: tuple[RunSummary, ...]
    plan: RunPlan | None
    baseline: str
    runs_dir: Path
    intervals: IntervalOptions = dataclasses.field(default_factory=IntervalOptions)
    main: bool = True

    def __iter__(self) -> Iterator[RunSummary]:
        return iter(self.summaries)

    def __len__(self) -> int:
        return len(self.summaries)

    def get(self, method: str, shot: int) -> RunSummary:
        """The summary of ``method`` (registry name) at ``shot``."""
        for s in self.summaries:
            if (s.method, s.shot) == (method, shot):
                return s
        raise KeyError(f"no run of {method} at {shot}-shot in these results")

    def frame(self) -> pd.DataFrame:
        """These runs as :func:`load_runs` gives them."""
        from fsar_bench.report.frames import runs_frame
        from fsar_bench.report.runs import frame

        return runs_frame(frame(list(self.summaries)))

    def compare(self, baseline: str | None = None) -> pd.DataFrame:
        """:func:`compare` of these runs (default: the run's ``baseline``)."""
        return compare(self.frame(), baseline=baseline or self.baseline)

    def table(self) -> str:
        """The tables ``fsar-bench run`` prints (accuracy and paired differences)."""
        from fsar_bench.report.console import run_tables

        if not self.summaries:
            return "(no runs)"
        return run_tables(list(self.summaries), self.baseline, self.intervals)


def _method_name(method: Any) -> str:
    """A method given as a name, or as a class: its import path ``module:QualName``."""
    if isinstance(method, str):
        return method
    if isinstance(method, type):
        return f"{method.__module__}:{method.__qualname__}"
    raise FsarError(f"method {method!r}: give a registry name or a FewShotMethod subclass")


def _methods(value: Any) -> Any:
    if isinstance(value, str | type):
        value = [value]
    return [_method_name(m) for m in value]


def _fields() -> dict[str, str]:
    """Option field name -> its group's keyword (the options of ``fsar-bench run``)."""
    return {
        f.name: key
        for key, group in GROUPS.items()
        for f in dataclasses.fields(group)
        if spelling(f) is not None
    }


def build_groups(options: dict[str, Any]) -> dict[str, Any]:
    """The option groups of ``fsar-bench run`` built from keyword arguments by field name; an
    unknown name is a ``TypeError`` naming the close match and the valid names."""
    fields = _fields()
    unknown = sorted(set(options) - set(fields))
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(fields), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise TypeError(
            f"fsar_bench.run() got an unknown option {unknown[0]!r}{hint}; valid options: "
            f"{', '.join(sorted(fields))}"
        )
    values = dict(options)
    if "methods" in values:
        values["methods"] = _methods(values["methods"])
    if "baseline" in values:
        values["baseline"] = _method_name(values["baseline"])
    parts: dict[str, dict[str, Any]] = {key: {} for key in GROUPS}
    for name, value in values.items():
        parts[fields[name]][name] = _typed(GROUPS[fields[name]], name, value)
    return {key: GROUPS[key](**parts[key]) for key in GROUPS}


def _typed(group: type, name: str, value: Any) -> Any:
    """A folder given as a string becomes the ``Path`` the command line would give; a
    sequence becomes a tuple (the groups are frozen)."""
    hint = typing.get_type_hints(group)[name]
    if isinstance(value, str) and Path in (hint, *typing.get_args(hint)):
        return Path(value)
    return tuple(value) if isinstance(value, list) else value


def run_groups(
    *,
    options: RunOptions,
    features: FeatureOptions,
    compute: ComputeOptions,
    data: DataOptions,
    intervals: IntervalOptions,
    output: OutputOptions | None = None,
    final: bool = False,
) -> Results:
    """What ``fsar-bench run`` and :func:`run` do once their options are parsed: plan and
    estimate, then train and evaluate every cell (a dry run stops after the plan). The plan,
    progress and each finished cell go to the reporter of ``output``
    (:mod:`fsar_bench.presentation.reporter`: bars on a terminal, else log lines; ``quiet``:
    the results only, and a dry run's plan); ``final``: it ends with the tables (the
    command)."""
    import fsar_bench.engine.run as engine
    from fsar_bench.engine.jobs import resolve_jobs
    from fsar_bench.engine.watch import RunWatch
    from fsar_bench.methods import METHODS
    from fsar_bench.presentation.reporter import progress
    from fsar_bench.runtime import init_runtime

    req = options.run_request(compute, features)
    base = METHODS.get(options.baseline).name
    source = data.source()
    runtime = init_runtime(req.device)  # under torchrun: this rank (see README)
    req = dataclasses.replace(req, jobs=resolve_jobs(options.jobs, runtime, req.methods))
    ranks = {"runtime": runtime} if runtime.distributed else {}  # alone: run_benchmark's own
    try:
        with progress(source.name, show=runtime.is_main, output=output) as report:
            watch = RunWatch(echo=_plan_lines(report, options.dry_run), dry_run=options.dry_run)
            summaries = engine.run_benchmark(
                source, req, report, watch=watch, on_cell=report.cell, **ranks
            )
            results = Results(
                summaries=tuple(summaries),
                plan=watch.plan,
                baseline=base,
                runs_dir=req.runs / source.name,
                intervals=intervals,
                main=runtime.is_main,
            )
            if final and results.main and not options.dry_run:
                report.final(f"{results.table()}\n\nresults: {results.runs_dir}")
    finally:
        runtime.close()
    return results


def _plan_lines(report, dry_run: bool) -> Callable[[str], None] | None:
    """Where the plan and each finished cell's time line go: the reporter's notes; with
    ``--quiet``, only a dry run's plan (its result), as the final output."""
    from fsar_bench.presentation.reporter import Silent
    from fsar_bench.progress import note

    if not isinstance(report, Silent):  # bars or lines
        return lambda text: note(report, "run", text)
    return report.final if dry_run and report.show_results else None


def run(**options: Any) -> Results:
    """Train and evaluate methods on identical episodes, as ``fsar-bench run`` does.

    Keyword arguments: the options of ``fsar-bench run`` by field name (``methods``,
    ``dataset``, ``shots``, ``way``, ``sets``, ``jobs``, ``runs_dir``, ``cache_dir``, ...; see
    the signature); ``methods`` takes names, ``FewShotMethod`` subclasses or a mix, and
    ``shots`` and ``sets`` take sequences. Prints the plan, the estimate and a line per cell.

    Returns:
        :class:`Results`: the run summaries and the plan.
    """
    return run_groups(**build_groups(options))


def _signature() -> inspect.Signature:
    """:func:`run`'s signature: every option field as a keyword-only parameter."""
    params = []
    for group in GROUPS.values():
        hints = typing.get_type_hints(group)
        for f in dataclasses.fields(group):
            if spelling(f) is not None:
                kind = inspect.Parameter.KEYWORD_ONLY
                params.append(
                    inspect.Parameter(f.name, kind, default=f.default, annotation=hints[f.name])
                )
    return inspect.Signature(params, return_annotation=Results)


run.__signature__ = _signature()  # help(fsar_bench.run) and editors show every option


def load_runs(path: str | Path = "runs") -> pd.DataFrame:
    """Every finished run under a results folder as a ``pandas.DataFrame``, one row per run.

    Columns: :data:`fsar_bench.report.frames.RUN_COLUMNS` (dataset, method, way, shot,
    train_seed, trainings, accuracy, ci95, n, stop_reason, train_episodes, run folder,
    config_hash, manifest, ...). ``fsar-bench ls runs`` lists the unfinished ones too.
    """
    from fsar_bench.report.frames import runs_frame
    from fsar_bench.report.runs import collect

    if not Path(path).is_dir():
        raise FsarError(f"no results folder {path}; give the folder 'run' wrote to (--runs-dir)")
    return runs_frame(collect(Path(path)))


def compare(frame: pd.DataFrame, *, baseline: str = "protonet") -> pd.DataFrame:
    """Paired differences against ``baseline`` on the same test episodes, one row per run.

    ``frame``: :func:`load_runs` rows (filter it first to choose runs). Columns:
    :data:`fsar_bench.report.frames.COMPARE_COLUMNS`: the mean per-episode difference with its
    95 % interval (``diff``, ``ci95``, ``low``, ``high``), the paired t-test and Wilcoxon
    p-values over test episodes (``t_p_episodes``, ``wilcoxon_p_episodes``: episode-level,
    they ignore the spread between trainings), and episodes won and lost.
    """
    from fsar_bench.methods import METHODS
    from fsar_bench.report.frames import compare_frame

    name = METHODS.get(baseline).name if baseline in METHODS else baseline
    return compare_frame(frame, name)
