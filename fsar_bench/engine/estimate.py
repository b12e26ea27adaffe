"""How long a run will take, before it starts: the model behind ``run``'s estimate.

The run's time is the features still to extract plus its cells, spread over ``--jobs``
processes::

    cell = train_left * train + validations_left * val_episodes * eval + test_left * eval
    run  = extract_frames * frame + makespan(cells, jobs)

* ``train_left``: training episodes still to run: 0 for a trained checkpoint or a finished run,
  else the episodes the training is expected to need less those already trained (a partial
  checkpoint), at least one validation interval. Expected: the median episodes of earlier runs
  of the same dataset, method, way, shot and training settings (any training seed) in the runs
  folder; else the median of earlier runs of that method and setting that stopped at their
  plateau; else the method's default (``fsar_bench/data/reference/run_estimates.csv``: where
  the reference report's trainings stopped); else the budget (``train.episodes``). Never above
  the budget, which is an upper bound.
* ``validations_left``: one per ``val_every`` episodes of ``train_left`` (none with
  ``--select last``), each of ``val_episodes`` episodes.
* ``test_left``: test episodes without a record yet.
* ``train`` and ``eval``: seconds per training episode (validation excluded) and per evaluated
  episode, measured by this machine's earlier cells at the same method, way, shot, backbone,
  size, device, threads and jobs (``<cache>/costs.json``, :mod:`fsar_bench.engine.costs`);
  else a short probe of the method (:mod:`fsar_bench.engine.cost_probe`).
* ``frame``: seconds per extracted frame (``costs.json``, else the backbone's default in
  ``run_estimates.csv`` scaled by the pixels per frame); a backbone with neither is left out of
  the estimate and said so.
* ``makespan``: cells handed, longest first, to the first free of ``jobs`` processes (as
  :mod:`fsar_bench.engine.jobs` does).

While the run goes, :meth:`RunPlan.remaining` rescales the cells left by how long the finished
cells of their method (else of any method) took against their estimates.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fsar_bench.engine.costs import CellCost, extract_key
from fsar_bench.features import BACKBONES
from fsar_bench.results.state import TrainingState
from fsar_bench.results.summary import RunSummary

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference" / "run_estimates.csv"


@dataclass(frozen=True, kw_only=True)
class CellState:
    """One planned cell and what is on disk for it.

    Attributes:
        index: place in the plan. method, dataset, way, shot, preset: the cell.
        training, trainings: which of the cell's trainings (``--trainings``) it is.
        train_config: its recorded training config. budget, val_every, val_episodes: from it.
        validates: the run selects on validation (``--select`` not ``last``).
        test_episodes: test episodes planned. records: those already evaluated.
        finished: its summary exists. checkpoint: its training so far (``None``: none yet).
        run_dir: its run folder. cost_key: its key in ``costs.json``.
    """

    index: int
    method: str
    dataset: str
    way: int
    shot: int
    preset: str
    training: int
    trainings: int
    train_config: dict
    budget: int
    val_every: int
    val_episodes: int
    validates: bool
    test_episodes: int
    records: int
    finished: bool
    checkpoint: TrainingState | None
    run_dir: Path
    cost_key: str

    @property
    def trained(self) -> bool:
        return self.finished or (self.checkpoint is not None and self.checkpoint.trained)


@dataclass(frozen=True, kw_only=True)
class CellEstimate:
    """What a cell has left and how long it should take.

    Attributes:
        train_episodes, validations, test_episodes: left to do.
        expected: training episodes expected in all; expected_from: where that comes from.
        seconds: the estimate (``None``: no cost known). cost_from: ``measured`` | ``probe``.
    """

    train_episodes: int
    validations: int
    test_episodes: int
    expected: int
    expected_from: str
    seconds: float | None
    cost_from: str


def reference(kind: str) -> dict[tuple[str, str], float]:
    """``(name, shot) -> value`` of the reference rows of ``kind`` (``plateau``, ``extract``)."""
    with open(REFERENCE, newline="") as fh:
        return {
            (r["name"], r["shot"]): float(r["value"])
            for r in csv.DictReader(fh)
            if r["kind"] == kind
        }


def _same_training(s: RunSummary, cell: CellState) -> bool:
    strip = lambda cfg: {k: v for k, v in cfg.items() if k not in ("seed",)}  # noqa: E731
    return strip(s.train_config) == strip(cell.train_config)


def expected_episodes(cell: CellState, earlier: Sequence[RunSummary]) -> tuple[int, str]:
    """Training episodes the cell should need in all, and where that comes from (module
    docstring)."""
    same = [
        s
        for s in earlier
        if (s.method, s.setting.dataset, s.setting.way, s.shot, s.preset)
        == (cell.method, cell.dataset, cell.way, cell.shot, cell.preset)
        and s.train_episodes > 0
    ]
    exact = [s.train_episodes for s in same if _same_training(s, cell)]
    plateau = [s.train_episodes for s in same if s.stop_reason == "plateau"]
    default = reference("plateau").get((cell.method, str(cell.shot)))
    if exact:
        found, source = statistics.median(exact), f"{len(exact)} earlier run(s)"
    elif plateau:
        found, source = statistics.median(plateau), f"{len(plateau)} earlier plateau(s)"
    elif default is not None:
        found, source = default, "method default"
    else:
        return cell.budget, "budget"
    if found >= cell.budget:
        return cell.budget, f"budget ({source})"
    return int(found), source


def cell_estimate(
    cell: CellState, cost: CellCost | None, expected: tuple[int, str]
) -> CellEstimate:
    """The work a cell has left and its seconds at ``cost`` (module docstring)."""
    total, source = expected
    done = cell.checkpoint.step if cell.checkpoint else 0
    train = 0 if cell.trained else max(total - done, min(cell.val_every, cell.budget - done), 0)
    validations = math.ceil(train / cell.val_every) if cell.validates else 0
    test = 0 if cell.finished else max(cell.test_episodes - cell.records, 0)
    seconds = None
    if cost is not None:
        evaluated = validations * cell.val_episodes + test
        seconds = train * cost.train + evaluated * cost.eval
    elif not (train or test):
        seconds = 0.0
    return CellEstimate(
        train_episodes=train,
        validations=validations,
        test_episodes=test,
        expected=total,
        expected_from="trained" if cell.trained else source,
        seconds=seconds,
        cost_from=cost.source if cost is not None else "-",
    )


def makespan(seconds: Sequence[float], jobs: int) -> float:
    """Wall time of ``seconds`` handed, longest first (as ``--jobs`` hands out cells), to the
    first free of ``jobs`` processes."""
    free = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        i = free.index(min(free))
        free[i] += s
    return max(free)


def frame_seconds(costs: dict, *, backbone: str, size: int, device: str, threads: int):
    """Seconds per extracted frame (``None``: unknown); see the module docstring."""
    key = extract_key(backbone=backbone, size=size, device=device, threads=threads)
    if key in costs["extract"]:
        return costs["extract"][key]["frame"]
    default = reference("extract").get((backbone, ""))
    if default is None or device != "cpu":
        return None
    base = BACKBONES.get(backbone).default_size
    return default * (size / base) ** 2


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """A run's plan and estimate (what ``run`` prints first; ``run --dry-run`` only this).

    Attributes:
        dataset: the dataset. jobs: processes for the cells; threads: intra-op threads each.
        cells, estimates: one :class:`CellState` and :class:`CellEstimate` per cell, in plan
            order. extract_frames: split -> frames still to extract (none: all extracted).
        extract_seconds: their estimate (``None``: unknown backbone cost).
        load: the machine's 1-minute load average when it was planned, and cores: its usable
            cores (a probe times what the machine does then; a busier machine takes longer).
    """

    dataset: str
    jobs: int
    threads: int
    cells: tuple[CellState, ...]
    estimates: tuple[CellEstimate, ...]
    extract_frames: dict[str, int]
    extract_seconds: float | None
    load: float = 0.0
    cores: int = 1

    @property
    def cell_seconds(self) -> float:
        """The cells' makespan (cells without a cost count 0)."""
        return makespan([e.seconds or 0.0 for e in self.estimates], self.jobs)

    @property
    def total_seconds(self) -> float:
        """The whole estimate (what is unknown counts 0; :attr:`unknown` says what)."""
        return (self.extract_seconds or 0.0) + self.cell_seconds

    @property
    def unknown(self) -> list[str]:
        """What the estimate leaves out."""
        out = [
            f"{c.method} {c.shot}-shot"
            for c, e in zip(self.cells, self.estimates)
            if e.seconds is None
        ]
        if self.extract_frames and self.extract_seconds is None:
            out.append("feature extraction")
        return out

    def remaining(self, done: dict[int, float], elapsed: float = 0.0) -> float:
        """Seconds left ``elapsed`` seconds after the cells started, once the cells in ``done``
        (index -> seconds they took) finished: the makespan of their times and of the other
        cells' estimates, each scaled by its method's finished cells' time over their estimate
        (any method's when none of its own finished), less ``elapsed``."""
        spent: dict[str, list[float]] = {}
        for i, e in enumerate(self.estimates):
            if i in done and e.seconds:
                for key in (self.cells[i].method, ""):
                    took, est = spent.get(key, [0.0, 0.0])
                    spent[key] = [took + done[i], est + e.seconds]
        took, est = spent.get("", [1.0, 1.0])

        def scaled(i: int, seconds: float) -> float:
            a, b = spent.get(self.cells[i].method, [took, est])
            return seconds * a / b

        times = [
            done[i] if i in done else scaled(i, e.seconds or 0.0)
            for i, e in enumerate(self.estimates)
        ]
        return max(makespan(times, self.jobs) - elapsed, 0.0)


def estimate_run(
    cells: Sequence[CellState],
    cost_of: Callable[[CellState], CellCost | None],
    earlier: Sequence[RunSummary],
) -> tuple[CellEstimate, ...]:
    """Every cell's estimate; ``cost_of`` gives a cell's costs (measured or probed) and is
    asked only for cells with work left."""
    out = []
    for cell in cells:
        expected = expected_episodes(cell, earlier)
        probe = not cell.finished
        out.append(cell_estimate(cell, cost_of(cell) if probe else None, expected))
    return tuple(out)
