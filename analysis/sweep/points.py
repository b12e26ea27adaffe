"""Single-factor sweeps and per-dataset profile points as library calls.

A **point** (:func:`profile_point`) is one dataset measured completely: every requested method
trained and evaluated through :func:`~fsar_bench.engine.run.run_benchmark` (identical episode
specs on every dataset of a sweep: the same request, only the dataset changes), OTAM with
``matching=mean`` as well when OTAM is requested (the alignment gain), the probe's analyses
(:func:`~fsar_bench.analysis.measures.outputs.measure`: ``aem.json`` and the start-time files), and
the order sensitivity of every trained run. It is written to ``OUT/<dataset>/profile.json`` with
the hash of everything that produced it; a later call with the same request reads it back
without touching a model (and each part is reused on its own too: finished runs from the
results store, the probe from the cache).

A **sweep** (:func:`run_sweep`) is one point per level of one factor
(``synthetic-<factor>-<level>``, :mod:`fsar_bench.data.synthetic_config`), followed by a table
(:func:`sweep_rows`: one row per level, method and shot) and the rank correlations of the probe's
AEM with the level (the order given) and with the ground-truth references.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fsar_bench.analysis.measures.outputs import MeasureRequest
from fsar_bench.analysis.sweep.profile import GAIN_SETS, profile_row, run_order_sensitivity
from fsar_bench.analysis.sweep.results import ProfilePoint
from fsar_bench.engine.run import RunRequest
from fsar_bench.errors import FsarError
from fsar_bench.files import dumps, read_json, write_text
from fsar_bench.progress import Progress
from fsar_bench.results.store import config_hash
from fsar_bench.results.summary import RunSummary
from fsar_bench.source import DataSource

PROFILE_FILE = "profile.json"


@dataclass(frozen=True, kw_only=True)
class PointRequest:
    """What one point measures.

    Attributes:
        run: the training and evaluation request (methods, shots, episodes, preset...).
        measure: the probe's settings. out: points go to ``OUT/<dataset>/``.
        order: also measure order sensitivity. gain: also train OTAM with ``matching=mean``.
    """

    run: RunRequest = field(default_factory=RunRequest)
    measure: MeasureRequest = field(default_factory=MeasureRequest)
    out: Path = Path("reports") / "analysis"
    order: bool = True
    gain: bool = True


def gain_request(run: RunRequest) -> RunRequest | None:
    """OTAM with its order-blind ``mean`` matching, everything else the same (or ``None``)."""
    if "otam" not in run.methods:
        return None
    sets = {**run.sets, "otam": {**run.sets.get("otam", {}), **GAIN_SETS}}
    return dataclasses.replace(run, methods=("otam",), sets=sets)


def point_key(dataset: str, req: PointRequest) -> str:
    """Hash of everything that produced a point (``out`` excluded)."""
    parts = {
        "dataset": dataset,
        "run": dataclasses.asdict(req.run),
        "measure": dataclasses.asdict(req.measure),
        "order": req.order,
        "gain": req.gain,
    }
    return config_hash(json.loads(json.dumps(parts, default=str)))


def profile_point(
    source: DataSource,
    req: PointRequest,
    progress: Progress | None = None,
    *,
    on_cell: Callable[[RunSummary], None] | None = None,
) -> ProfilePoint:
    """Measure one dataset completely (see the module docstring), or read it back; ``on_cell``
    is given each trained cell's summary as soon as it is finished (:func:`run_benchmark`)."""
    from fsar_bench.analysis.measures import outputs

    folder = req.out / source.name
    key = point_key(source.name, req)
    with outputs.output_lock(folder):  # one writer; a second identical command reuses it
        done = read_json(folder / PROFILE_FILE)
        if isinstance(done, dict) and done.get("key") == key:
            return ProfilePoint.from_json(done)  # a torn or foreign profile.json: measured again
        return _measure_point(source, req, key, progress, on_cell)


def _measure_point(
    source: DataSource,
    req: PointRequest,
    key: str,
    progress: Progress | None,
    on_cell: Callable[[RunSummary], None] | None,
) -> ProfilePoint:
    """:func:`profile_point`'s work, under the output folder's lock."""
    from fsar_bench.analysis.measures import outputs
    from fsar_bench.engine.run import run_benchmark

    folder = req.out / source.name
    summaries = run_benchmark(source, req.run, progress, on_cell=on_cell)
    blind_req = gain_request(req.run) if req.gain else None
    blind = run_benchmark(source, blind_req, progress, on_cell=on_cell) if blind_req else []
    probe, result = outputs.measure(source, req.measure, progress)
    outputs.write_aem_files(folder, probe, result)
    outputs.write_start_files(folder, source.name, probe, result, pdf=False)
    orders = {}
    if req.order:
        orders = {s.dir: run_order_sensitivity(s, source.cache, req.run.device) for s in summaries}
    row = profile_row(result.report, summaries, orders, blind)
    request = json.loads(json.dumps(dataclasses.asdict(req), default=str))
    point = dataclasses.replace(row, key=key, request=request)
    write_text(folder / PROFILE_FILE, dumps(point.to_json(), indent=1) + "\n")
    return ProfilePoint.from_json(read_json(folder / PROFILE_FILE))  # as a later call reads it


def sweep_datasets(factor: str, levels: list[str]) -> list[str]:
    """Dataset names ``synthetic-<factor>-<level>`` of the levels, or a one-line error."""
    from fsar_bench.data.synthetic_config import level_name

    if len(levels) < 2:
        raise FsarError(
            f"--levels {','.join(levels) or '(none)'}: a sweep needs at least two "
            "levels, e.g. none,low,mid,high"
        )
    names = [f"synthetic-{level_name(factor, level)}" for level in levels]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise FsarError(f"--levels {','.join(levels)}: {repeated[0]} is given twice")
    return names


def run_sweep(
    factor: str,
    levels: list[str],
    source_for: Callable[[str], DataSource],
    req: PointRequest,
    progress: Progress | None = None,
    *,
    on_cell: Callable[[RunSummary], None] | None = None,
) -> list[ProfilePoint]:
    """One :func:`profile_point` per level (in the order given); returns the points."""
    names = sweep_datasets(factor, levels)
    return [profile_point(source_for(name), req, progress, on_cell=on_cell) for name in names]
