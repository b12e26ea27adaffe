"""The plan and estimate ``fsar-bench run`` prints before any work, and its line per cell.

Reads a :class:`~fsar_bench.engine.estimate.RunPlan` (imports no torch).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fsar_bench.presentation.text import table

if TYPE_CHECKING:
    from fsar_bench.engine.estimate import CellEstimate, CellState, RunPlan
    from fsar_bench.results.summary import RunSummary


def duration(seconds: float | None) -> str:
    """``"45 s"``, ``"12:34"``, ``"1:02:03"``; ``"?"`` when unknown."""
    if seconds is None:
        return "?"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def cached(cell: CellState) -> str:
    """What the cell already has, in words."""
    if cell.finished:
        return "finished run"
    t = cell.checkpoint
    if t is not None and t.trained:
        what = f"trained checkpoint ({t.stop} at {t.step:,})"
    elif t is not None:
        what = f"partial checkpoint at {t.step:,}"
    else:
        what = "nothing"
    if cell.records:
        what += f", {cell.records:,}/{cell.test_episodes:,} test records"
    return what


def setting(cell: CellState) -> str:
    """``5w1s``, and the training ``#i/N`` when the cell is trained several times."""
    training = f" #{cell.training + 1}/{cell.trainings}" if cell.trainings > 1 else ""
    return f"{cell.way}w{cell.shot}s{training}"


def todo(est: CellEstimate) -> str:
    """What the cell has left, in words."""
    parts = []
    if est.train_episodes:
        parts.append(f"train ~{est.train_episodes:,} episodes ({est.expected_from})")
    if est.validations:
        parts.append(f"{est.validations} validations")
    if est.test_episodes:
        parts.append(f"test {est.test_episodes:,} episodes")
    return ", ".join(parts) or "-"


def plan_text(plan: RunPlan) -> str:
    """The plan table and the estimate (module docstring)."""
    rows = [
        (c.method, setting(c), cached(c), todo(e), duration(e.seconds), e.cost_from)
        for c, e in zip(plan.cells, plan.estimates)
    ]
    head = ("method", "setting", "cached", "to do", "estimate", "costs")
    lines = [
        f"plan: {plan.dataset}, {len(plan.cells)} cells, {plan.jobs} process(es) of "
        f"{plan.threads} thread(s); load average {plan.load:.1f} on {plan.cores} core(s)",
        table(head, rows),
    ]
    if plan.extract_frames:
        frames = ", ".join(f"{s} {n:,}" for s, n in plan.extract_frames.items())
        lines.append(f"features to extract (frames): {frames}: {duration(plan.extract_seconds)}")
    note = f"; not estimated: {', '.join(plan.unknown)}" if plan.unknown else ""
    lines.append(
        f"estimate: {duration(plan.total_seconds)} (features {duration(plan.extract_seconds)}, "
        f"cells {duration(plan.cell_seconds)}){note}"
    )
    return "\n".join(lines)


def cell_line(plan: RunPlan, index: int, summary: RunSummary, took: float, left: float) -> str:
    """One finished cell: its accuracy, why training stopped, its time against the estimate,
    and the time left."""
    done = f"[{index + 1}/{len(plan.cells)}] {summary.method} {summary.shot}-shot: "
    acc = summary.accuracy
    done += f"{acc['mean']:.2f} +- {acc['ci95']:.2f}"
    if plan.cells[index].finished:
        return done + " (finished earlier)"
    stop = f"{summary.stop_reason or 'trained'} at {summary.train_episodes:,} episodes"
    est = duration(plan.estimates[index].seconds)
    return done + f" ({stop}; {duration(took)}, estimated {est}); about {duration(left)} left"
