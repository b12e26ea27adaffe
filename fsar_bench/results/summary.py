"""The typed result of one run: :class:`RunSummary`, written by the engine, read by the reports.

``summary.json`` in a run folder is ``RunSummary.to_json()``; :func:`load_summaries` reads every
finished run back. The summary records everything needed to rebuild the trained method without
the command that made it: the resolved method config, the features it was trained on and the
checkpoint of the validation-selected weights (``fsar-bench tsne --run RUN_DIR`` uses them).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fsar_bench.errors import FsarError
from fsar_bench.results.store import RunDir, accuracies, read_records


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One evaluated setting, shared by every method of a run (same test manifest).

    Attributes:
        dataset, way, shot, query, episodes, protocol, seed, frames: the episodes.
        repeats: ``> 1`` when the interval is taken over repeat means (the ``ita`` protocol).
    """

    dataset: str
    way: int
    shot: int
    query: int
    episodes: int
    protocol: str
    seed: int
    frames: int
    repeats: int = 1


@dataclass(frozen=True, kw_only=True)
class Training:
    """Which training of its cell a run is (``fsar-bench run --trainings N``).

    Attributes:
        seed: the training seed (``train_config["seed"]``).
        index: 0-based, as the command that trained it counted: its seed is that command's
            first training seed + ``index``. of: the trainings that command asked for.
            Reports group a cell's trainings by everything but the seed, and pair methods'
            trainings by seed, so a run reused by a later command keeps the record it was
            made with.
    """

    seed: int
    index: int = 0
    of: int = 1


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """A finished run (one method on one setting).

    Attributes:
        method: registry name. preset: run preset (``quick``, ``paper``).
        method_origin: where the method comes from (``built-in``, ``entry point <dist> <version>
            (<module:attr>)`` or ``import path <module:Class>``); method_factory: its class.
        method_config, train_config: the resolved configs (``dataclasses.asdict``).
        setting: the evaluated :class:`Setting`.
        features: split -> feature-store key. backbone, size: the features' backbone and input.
        select: model selection (:mod:`fsar_bench.engine.select`): ``{"mode": "val"}``,
            ``{"mode": "last"}`` or ``{"mode": "holdout", "k", "seed", "classes"}``.
        val_manifest, manifest: SHA-256 of the validation (``None`` for ``last``) and test
            manifests.
        manifest_file: where the test manifest was read from.
        accuracy: ``mean``, ``ci95``, ``std``, ``n`` (and ``per_episode`` with repeats).
        interval_convention: how ``ci95`` was computed.
        best_val: validation accuracy of the selected weights (``None`` for ``last``).
        train_history: the learning curve, one entry per validation: ``step`` (training
            episodes so far), ``loss`` (mean training loss since the previous validation),
            ``val`` (validation accuracy, percent), ``lr`` and ``threads`` (the process's
            intra-op CPU threads while it trained that segment: a training is byte-identical
            only at the same count) (the last two absent in older summaries).
        stop_reason: why training stopped: ``"plateau"`` (the plateau rule of
            :mod:`fsar_bench.engine.schedule`) or ``"budget"`` (``train_config.episodes``);
            ``""`` in summaries written before the rule existed.
        train_episodes: episodes trained when it stopped (0 in older summaries).
        train_seconds, eval_seconds: wall time. versions: software versions. device: where.
        checkpoint: the selected weights (``best.safetensors``).
        weights: the backbone weight file given (``""``: the backbone's default); its content
            is in the feature keys.
        world_size: processes that trained and evaluated it (``torchrun``; 1 in older
            summaries).
        jobs: cells the run trained at once (``--jobs``; one thread per process when above 1);
            its timings were taken beside that many processes (1 in older summaries).
        finetune: the backbone was trained with the method on decoded clips (``--finetune``;
            ``features`` is then empty). clips: how those clips were decoded and which weights
            the backbone started from (:class:`~fsar_bench.engine.finetune.ClipSettings`).
        dir: the run folder (set when read back; not stored in the file).
    """

    method: str
    preset: str
    method_config: dict[str, Any]
    train_config: dict[str, Any]
    setting: Setting
    features: dict[str, str]
    backbone: str
    size: int
    val_manifest: str | None
    manifest: str
    manifest_file: str
    accuracy: dict[str, Any]
    interval_convention: str
    best_val: float | None
    train_history: list[dict[str, Any]]
    stop_reason: str = ""
    train_episodes: int = 0
    train_seconds: float
    eval_seconds: float
    versions: dict[str, str]
    device: str
    checkpoint: str = ""
    method_origin: str = "built-in"
    method_factory: str = ""
    select: dict[str, Any] = field(default_factory=lambda: {"mode": "val"})
    weights: str = ""
    world_size: int = 1
    jobs: int = 1
    finetune: bool = False
    clips: dict[str, Any] = field(default_factory=dict)
    training: Training | None = None
    dir: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.training is None:  # older summaries: the only training of its command
            seed = self.train_config.get("seed", self.setting.seed)
            object.__setattr__(self, "training", Training(seed=seed))

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to ``summary.json`` (without ``dir``)."""
        out = dataclasses.asdict(self)
        out.pop("dir")
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: str | Path = "") -> RunSummary:
        """Read a ``summary.json`` object; ``folder`` is the run folder it came from."""
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and k != "dir"}
        values["setting"] = Setting(**data["setting"])
        if data.get("training") is not None:
            values["training"] = Training(**data["training"])
        return cls(**values, dir=str(folder))

    @property
    def shot(self) -> int:
        return self.setting.shot

    @property
    def records_file(self) -> Path:
        return Path(self.dir) / "episodes.jsonl"

    def episode_accuracies(self):
        """Per-episode accuracies (percent) in manifest order: ``ndarray [episodes]``; records
        beyond the manifest are refused (one-line error)."""
        records = read_records(self.records_file, self.setting.episodes, repair=False)
        if len(records) != self.setting.episodes:
            raise FsarError(
                f"{self.records_file} holds {len(records)} of {self.setting.episodes} episode "
                "records (torn or removed); run the run's command again to redo them"
            )
        return accuracies(records)


def write_summary(run: RunDir, summary: RunSummary) -> RunSummary:
    """Write ``summary.json`` (atomically; a run with a summary is finished)."""
    run.write_summary(summary.to_json())
    return dataclasses.replace(summary, dir=str(run.path))


def read_summary(folder: str | Path) -> RunSummary:
    """The summary of the run in ``folder``; a file that is not one (torn, edited, another
    program's) is a one-line error naming it."""
    path = Path(folder) / "summary.json"
    try:
        return RunSummary.from_json(json.loads(path.read_bytes()), folder)
    except (ValueError, TypeError, KeyError, AttributeError, OSError) as err:
        why = (str(err).splitlines() or [""])[0] or type(err).__name__
        raise FsarError(
            f"{path} is not a readable run summary ({type(err).__name__}: {why}); run the "
            "command that made it again (a torn summary is redone) or delete its folder"
        ) from None


def load_summaries(runs: str | Path) -> list[RunSummary]:
    """Every finished run under ``runs`` (``<runs>/<dataset>/<run>/summary.json``), sorted."""
    return [read_summary(p.parent) for p in sorted(Path(runs).glob("*/*/summary.json"))]
