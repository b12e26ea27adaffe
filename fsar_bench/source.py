"""A data source: one dataset, where its videos and caches are, and how missing videos are treated.

Every command and the engine take one :class:`DataSource` instead of the loose values
(dataset, data root, cache, list variant, missing policy). It knows how to prepare its data
(generate a synthetic dataset, index a real one), loads the index of the data root once
(memoised; the missing-video policy is applied per request), and hands out the feature stores
of a backbone through :meth:`DataSource.features`.

Example::

    source = DataSource.resolve("ssv2", data_root="~/data/ssv2", missing="skip")
    stores = source.features(ExtractConfig(backbone="efficientnet-lite0"))
    test = source.index(("test",))["test"]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fsar_bench.data import paths
from fsar_bench.data.datasets import SPLITS, DatasetInfo
from fsar_bench.data.index import SplitIndex, check_missing_policy, read_index
from fsar_bench.data.splits import read_split
from fsar_bench.data.user import find_dataset
from fsar_bench.errors import FsarError
from fsar_bench.progress import Progress

if TYPE_CHECKING:
    from fsar_bench.data.prepare import SplitReport
    from fsar_bench.features.cache import FeatureStore
    from fsar_bench.features.estimate import CacheEstimate
    from fsar_bench.features.settings import ExtractConfig
    from fsar_bench.runtime import Runtime

MISSING = ("error", "skip")


@dataclass(frozen=True, kw_only=True)
class DataSource:
    """One dataset's data and caches.

    Attributes:
        dataset: the registry entry.
        root: the dataset's folder (videos or frame folders; a synthetic dataset's output).
        cache: the cache folder (indexes, features, checkpoints, probes).
        variant: published split-list variant (``""``: the protocol's default lists).
        missing: ``"error"`` (listed videos not found are an error) or ``"skip"``.
    """

    dataset: DatasetInfo
    root: Path
    cache: Path
    variant: str = ""
    missing: str = "error"
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.missing not in MISSING:
            raise FsarError(f"--missing must be 'error' or 'skip', not {self.missing!r}")

    @classmethod
    def resolve(
        cls,
        dataset: str,
        *,
        data_root: str | Path | None = None,
        cache_dir: str | Path | None = None,
        variant: str = "",
        missing: str = "error",
    ) -> DataSource:
        """Look the dataset up and resolve its folders (see :mod:`fsar_bench.data.paths`).

        ``dataset`` is a registry name or a folder of split lists (:mod:`fsar_bench.data.user`,
        whose videos default to that folder).
        """
        info, folder = find_dataset(dataset)
        cache = paths.cache_dir(cache_dir)
        root = paths.data_root(info, data_root or folder, cache)
        return cls(dataset=info, root=root, cache=cache, variant=variant, missing=missing)

    @property
    def name(self) -> str:
        return self.dataset.name

    # --- preparation ------------------------------------------------------------------------
    def prepare(self, progress: Progress | None = None) -> list[SplitReport]:
        """Generate (synthetic, from the dataset's own seed) and index the data root; per-split
        counts (see ``prepare``)."""
        from fsar_bench.data.prepare import prepare

        reports, index = prepare(
            self.dataset, self.root, self.cache, self.variant, progress=progress
        )
        self._memo["index"] = index
        return reports

    def check_missing(self, reports: list[SplitReport]) -> None:
        """Apply the missing-video policy to ``prepare``'s reports (after they are shown)."""
        from fsar_bench.data.prepare import check_missing

        check_missing(self.dataset, self.root, reports, self.missing)

    def ensure_prepared(
        self, progress: Progress | None = None, runtime: Runtime | None = None
    ) -> None:
        """Generate a synthetic dataset that is not complete yet (on rank 0 under ``torchrun``):
        its folder is missing, empty or holds an interrupted generation (``config.json`` without
        ``COMPLETE``). Real data, and a folder of prepared frames and split lists given as a
        synthetic dataset's root, are left as they are."""

        def make() -> None:
            if self.dataset.is_synthetic and self._unmade():
                self.prepare(progress=progress)

        self._ranked(runtime, make)

    def _unmade(self) -> bool:
        """The synthetic data root still needs (or is in the middle of) its generation."""
        root = self.root
        if (root / "COMPLETE").is_file():
            return False
        return not root.is_dir() or (root / "config.json").is_file() or not any(root.iterdir())

    # --- index ------------------------------------------------------------------------------
    def index(self, splits: Sequence[str] = SPLITS) -> dict[str, SplitIndex]:
        """Every split's index (loaded once), after checking ``splits`` against the policy."""
        if "index" not in self._memo:
            self._memo["index"] = read_index(self.dataset, self.root, self.cache, self.variant)
        out = self._memo["index"]
        check_missing_policy(self.dataset, self.root, out, tuple(splits), self.missing)
        return out

    # --- features ---------------------------------------------------------------------------
    def features(
        self,
        config: ExtractConfig,
        splits: Sequence[str] = SPLITS,
        *,
        runtime: Runtime | None = None,
        workers: int | None = None,
        progress: Progress | None = None,
    ) -> dict[str, FeatureStore]:
        """Extract what is missing (resumable; shared among ``torchrun`` ranks) and return one
        feature store per split. ``runtime``: device and rank (default: this process alone)."""
        from fsar_bench.features.extract import ensure_features

        index = self._ranked(runtime, lambda: self.index(splits))
        return ensure_features(
            info=self.dataset,
            root=self.root,
            cache=self.cache,
            index=index,
            config=config,
            splits=splits,
            variant=self.variant,
            runtime=runtime,
            workers=workers,
            progress=progress,
        )

    def estimate(self, config: ExtractConfig, splits: Sequence[str] = SPLITS) -> CacheEstimate:
        """The feature cache ``config`` would fill, before extracting (``extract --dry-run``):
        from the index of the data root (built if needed; missing videos are not counted), or,
        when the data root does not exist, from the split lists' counts."""
        from fsar_bench.features.estimate import estimate_cache
        from fsar_bench.features.extract import Where, plan_estimate

        if self.dataset.is_synthetic and not self.root.is_dir():
            raise FsarError(
                f"{self.name} is not generated yet; run 'fsar-bench prepare --dataset "
                f"{self.name}' first (its split lists are made with its videos)"
            )
        if self.root.is_dir():
            where = Where(info=self.dataset, root=self.root, cache=self.cache, variant=self.variant)
            return plan_estimate(where, self.index(()), config, splits)
        counts = {
            s: len(read_split(self.dataset.split_path(s, self.root, self.variant)).videos)
            for s in splits
        }
        return estimate_cache(
            dataset=self.name,
            counts=counts,
            config=config,
            folder=self.cache / "features" / self.name,
            source=f"the split lists ({self.root} does not exist)",
        )

    @staticmethod
    def _ranked(runtime: Runtime | None, fn):
        """``fn`` on rank 0 first (it may write the index), then on the other ranks."""
        return runtime.main_first(fn) if runtime else fn()
