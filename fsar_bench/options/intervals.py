"""Option group of the intervals a table prints (``fsar-bench run`` and ``report``).

:class:`IntervalOptions` says which sources of variation a cell's interval covers: trainings and
test episodes (``episodes``), plus the sampling of test classes (``classes``), or the classes
only when the test split has few of them (``auto``). The statistics are
:mod:`fsar_bench.results.hierarchy`; what each interval covers, and why ``episodes`` is the
default, is in docs/statistics.md. Only the printed and reported tables read it (no run config).
"""

from __future__ import annotations

from dataclasses import dataclass

from fsar_bench.errors import FsarError
from fsar_bench.options.spelling import opt

CI_MODES = ("episodes", "classes", "auto")
FEW_CLASSES = 30  # --ci auto: the class level below this many test classes (docs/statistics.md)


@dataclass(frozen=True, kw_only=True)
class IntervalOptions:
    """What a cell's interval covers, and how it is drawn.

    Attributes:
        ci: ``episodes`` (trainings x test episodes, the test classes fixed), ``classes``
            (also the sampling of test classes) or ``auto`` (``classes`` when the test split
            has fewer than :data:`FEW_CLASSES` classes).
        n_boot: bootstrap resamples per level. seed: their generator's seed (fixed, so a
            report is reproducible).
    """

    ci: str = opt(
        "episodes",
        "--ci",
        help="Interval over trainings x test episodes (episodes), also over test classes "
        f"(classes), or classes below {FEW_CLASSES} test classes (auto).",
    )
    n_boot: int = 2000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ci not in CI_MODES:
            raise FsarError(f"--ci {self.ci!r}: expected one of {', '.join(CI_MODES)}")

    def class_level(self, n_classes: int, way: int) -> bool:
        """Whether a cell with ``n_classes`` test classes in ``way``-way episodes gets the
        class level (it needs more classes than ``way``: docs/statistics.md)."""
        wanted = self.ci == "classes" or (self.ci == "auto" and n_classes < FEW_CLASSES)
        return wanted and n_classes > way
