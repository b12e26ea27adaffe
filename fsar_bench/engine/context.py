"""What every cell of one run shares: the data, its features and indexes, the model selection.

:func:`open_context` does a run's preparation once (generate or index the data, check the
selection, extract the missing features, restrict each split to the videos that have them,
split off held-out classes) and returns the :class:`RunContext` that planning
(:mod:`~fsar_bench.engine.cells`) and every cell (:mod:`~fsar_bench.engine.run`) read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fsar_bench.data.index import SplitIndex
from fsar_bench.engine.finetune import Clips
from fsar_bench.engine.inputs import usable
from fsar_bench.engine.pending import extract_timed, stores_or_pending
from fsar_bench.engine.request import RunRequest
from fsar_bench.engine.select import Selection, check_selection, parse_select, select_indexes
from fsar_bench.features.bank import FeatureBank
from fsar_bench.features.cache import FeatureStore
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.progress import Progress, prefixed
from fsar_bench.runtime import Runtime
from fsar_bench.source import DataSource


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What every (method, shot) of one run shares.

    Attributes:
        source: the dataset. req: the run's request. runtime: device and rank.
        stores: split -> feature store (empty when fine-tuning).
        indexes: split -> the videos used (with features; ``holdout`` split off the train
            classes for ``--select holdout:K``).
        selection: the parsed ``--select``; select: its record (run configs store it).
        progress: ``(stage, done, total)`` callback (``None`` off rank 0).
        clips: decoded clips of the fine-tuned track (``None``: cached features).
        draft: a plan only (``run --dry-run``, the plan printed before a run): nothing was
            extracted (missing stores are :class:`~fsar_bench.engine.pending.PendingStore`)
            and planning writes no manifest.
    """

    source: DataSource
    req: RunRequest
    runtime: Runtime
    stores: dict[str, FeatureStore]
    indexes: dict[str, SplitIndex]
    selection: Selection
    select: dict
    progress: Progress | None = None
    clips: Clips | None = None
    banks: dict[tuple[str, bool], FeatureBank] = field(default_factory=dict)
    draft: bool = False

    def bank(self, split: str, pooled: bool) -> FeatureBank:
        """The split's :class:`FeatureBank` (built once per run and input kind)."""
        if (split, pooled) not in self.banks:
            self.banks[split, pooled] = FeatureBank(self.stores[split], pooled)
        return self.banks[split, pooled]


def open_context(
    source: DataSource,
    req: RunRequest,
    runtime: Runtime,
    progress: Progress | None = None,
    *,
    draft: bool = False,
) -> RunContext:
    """Prepare the data and features a run reads (see the module docstring); ``draft``:
    extract nothing (a plan; see :class:`RunContext`)."""
    source.ensure_prepared(progress=progress, runtime=runtime)
    # extraction views use a fixed seed so stores are shared across run seeds
    xcfg = ExtractConfig(
        backbone=req.backbone,
        frames=req.frames,
        size=req.size,
        weights=req.weights,
        maps=req.maps,
        map_size=req.map_size,
        views=req.views or ExtractConfig.views,
    )
    selection = parse_select(req.select)
    split_ix = runtime.main_first(lambda: source.index(selection.splits))
    check_selection(split_ix, selection, source.name, req.seed, req.way)
    stores = {}
    if draft and not req.finetune:
        stores = stores_or_pending(source, xcfg, selection.splits)
    elif not req.finetune:
        stores = extract_timed(
            source,
            xcfg,
            selection.splits,
            runtime=runtime,
            workers=req.workers,
            progress=prefixed(progress, "extract", unit="videos"),
        )
    ix = source.index()
    usable_ix = {s: usable(ix[s], stores[s]) if stores else ix[s] for s in selection.splits}
    indexes, select = select_indexes(usable_ix, selection, req.seed, req.way)
    clips = Clips.of(source, indexes, req, runtime.device) if req.finetune else None
    return RunContext(
        source=source,
        req=req,
        runtime=runtime,
        stores=stores,
        indexes=indexes,
        selection=selection,
        select=select,
        progress=progress,
        clips=clips,
        draft=draft,
    )
