"""What ``fsar-bench run`` and :func:`fsar_bench.run` show around the work: the plan and the
estimate before it starts (:func:`~fsar_bench.engine.survey.survey`), and a line per finished
cell with the time left (:meth:`~fsar_bench.engine.estimate.RunPlan.remaining`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from fsar_bench.engine.context import Progress
from fsar_bench.engine.estimate import RunPlan
from fsar_bench.engine.plan_text import cell_line, plan_text
from fsar_bench.engine.request import Resolved, RunRequest
from fsar_bench.engine.survey import survey
from fsar_bench.results.summary import RunSummary
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource


class RunWatch:
    """Handed to :func:`~fsar_bench.engine.run.run_benchmark`: :meth:`start` before any work,
    :meth:`cell_done` after each cell.

    Args:
        echo: where lines go (``None``: nowhere; off rank 0 nothing is shown).
        dry_run: stop after the plan. probe: probe methods without measured costs.
    """

    def __init__(
        self, *, echo: Callable[[str], None] | None = None, dry_run: bool = False, probe=True
    ) -> None:
        self.echo, self.dry_run, self.probe = echo, dry_run, probe
        self.plan: RunPlan | None = None
        self.took: dict[int, float] = {}
        self.started = time.monotonic()

    def start(
        self,
        source: DataSource,
        req: RunRequest,
        resolved: dict[tuple[str, int], Resolved],
        runtime: Runtime,
        progress: Progress | None = None,
    ) -> bool:
        """Plan and estimate the run, show them; ``False``: stop here (a dry run)."""
        self.plan = survey(source, req, resolved, runtime, progress, probe=self.probe)
        if not runtime.is_main:
            self.echo = None
        if self.echo:
            self.echo(plan_text(self.plan))
        return not self.dry_run

    def begin(self) -> list[float] | None:
        """The cells start now; returns each one's estimated seconds (parallel cells start
        longest first)."""
        self.started = time.monotonic()
        if self.plan is None:
            return None
        return [e.seconds or 0.0 for e in self.plan.estimates]

    def cell_done(self, index: int, summary: RunSummary) -> None:
        """Show the finished cell and the time left."""
        fresh = not self.plan.cells[index].finished
        self.took[index] = summary.train_seconds + summary.eval_seconds if fresh else 0.0
        if self.echo:
            left = self.plan.remaining(self.took, time.monotonic() - self.started)
            self.echo(cell_line(self.plan, index, summary, self.took[index], left))
