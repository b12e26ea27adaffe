"""TSM probes trained per dataset: per-frame class probabilities for the misalignment analyses.

TA2N (Li et al., AAAI 2022, supplementary) trains "a general action recognition model based on
TSM for each dataset", feeds each video's ``T`` uniformly sampled frames and reads the per-frame
class probabilities ``P [classes, T]``. This module trains such a probe and scores videos.

Modes (the name is written into every output):

* ``feature-tsm`` (default, CPU-affordable): **not the full TSM**. A learned per-frame 1x1
  reduction, residual temporal-shift blocks and a per-frame linear classifier
  (:class:`~fsar_bench.analysis.probe.models.FeatureProbe` around
  :class:`~fsar_bench.analysis.probe.tsm.FeatureTSMProbe`) trained on frozen, cached backbone maps
  (``fsar-bench extract``'s stores, shared with ``run``).
* ``tsm-resnet50``: the full TSM: ResNet-50 with residual shift
  (:func:`~fsar_bench.analysis.probe.tsm.tsm_resnet50`) fine-tuned end to end on decoded frames from
  ImageNet weights; one random frame per TSN segment in training, segment centres at test. Meant
  for a GPU.

Which videos. The probe classifies among **all classes of the dataset** (train, val and test
splits together). Within each class, the videos of the scored splits (``score_splits``, default
all three) are split at random (seeded): ``score_fraction`` of them (rounded down, leaving at
least one training video per class) are *scored*, the rest train the probe; videos of other
splits only train. Scored videos are never seen in training; every output states the counts.
The published analysis does not say how the authors split; "a general recogniser" measured on
"all videos" suggests they scored the videos they trained on: ``score_trained=True`` does that
(every video trains, every video of ``score_splits`` is scored) and every output says so.

Training (recipe, differences from TSM's, the measurements behind the ``feature-tsm`` defaults,
resume): :mod:`fsar_bench.analysis.probe.train`.

Flips: ``flip="auto"`` follows TSM (no flips for Something-Something, whose classes name
directions) and also disables them for the synthetic datasets (left/right primitives).

Files under ``<cache>/probes/<dataset>-<key>/``: ``settings.json`` (all that is hashed into
``key``), ``last.safetensors`` (checkpoint), ``probe.safetensors`` (final weights), ``train.json``
(history, seconds), ``scores.npz`` (scored videos: ``frame_logits [V, T, K]``, frame indices
``[V, T]``, clip names).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path

import numpy as np
import torch

from fsar_bench.analysis.probe.clips import feature_inputs, frame_inputs
from fsar_bench.analysis.probe.config import MODES, ProbeConfig, ProbeSummary, ProbeVideo
from fsar_bench.analysis.probe.models import build_model
from fsar_bench.analysis.probe.train import ProbeRun, cached_scores, trained_record
from fsar_bench.data.datasets import SPLITS
from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.errors import FsarError
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.files import owned, read_json, write_json
from fsar_bench.progress import Progress
from fsar_bench.source import DataSource

PROBE_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class Probe:
    """A trained probe and its scores on the held-out videos.

    Attributes:
        folder: where its files are.
        config: its settings.
        description: the mode's honest name and description.
        classes: class keys; label ``k`` is ``classes[k]``.
        videos: every video it knows (trained and scored).
        scored: the scored videos, in the order of the arrays below.
        frame_logits: ``[V, T, K]`` per-frame logits of the scored videos.
        indices: ``[V, T]`` the video frame each step comes from (0-based).
        clips: ``[V]`` which clip was scored ("test clip", "train view k", "segment centres").
        record: training history and time (``train.json``).
    """

    folder: Path
    config: ProbeConfig
    description: str
    classes: list[str]
    videos: list[ProbeVideo]
    scored: list[ProbeVideo]
    frame_logits: np.ndarray
    indices: np.ndarray
    clips: list[str]
    record: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """``[V]`` true labels of the scored videos."""
        return np.array([v.label for v in self.scored], dtype=np.int64)

    def summary(self) -> ProbeSummary:
        """Mode, which videos were trained and scored, held-out accuracy, training time."""
        trained = [v for v in self.videos if v.trained]
        seen = sum(v.trained for v in self.scored)
        video_pred = self.frame_logits.mean(1).argmax(-1)  # [V]
        frame_pred = self.frame_logits.argmax(-1)  # [V, T]
        return ProbeSummary(
            mode=self.config.mode,
            description=self.description,
            folder=str(self.folder),
            classes=len(self.classes),
            trained_videos=len(trained),
            scored_videos=len(self.scored),
            scored_videos_seen_in_training=seen,
            videos_note=_videos_note(
                len(trained), len(self.classes), len(self.scored), seen, self.config
            ),
            accuracy_video=float((video_pred == self.labels).mean()),
            accuracy_frame=float((frame_pred == self.labels[:, None]).mean()),
            epochs=self.config.epochs,
            optimizer_lr_weight_decay=self.config.recipe(),
            train_seconds=self.record.get("seconds"),
            history=tuple(self.record.get("history", [])),
        )


def _videos_note(trained: int, classes: int, scored: int, seen: int, config: ProbeConfig) -> str:
    splits = "/".join(config.score_splits)
    head = f"probe trained on {trained} videos of {classes} classes (all splits); scored {scored}"
    if seen:
        return f"{head} videos of splits {splits}, {seen} of them SEEN IN TRAINING (in-sample)"
    return (
        f"{head} held-out videos of splits {splits} (seeded per-class split, "
        f"{config.score_fraction:g} scored); scored videos were not seen in training"
    )


def _held_out(found: list[tuple[str, Video]], classes: list[str], config: ProbeConfig) -> set[str]:
    """Per class, a seeded ``score_fraction`` of its videos in ``score_splits`` (>= 1 left)."""
    rng = np.random.default_rng([config.seed, 0x5C0BE])
    scored: set[str] = set()
    for c in classes:
        members = [v.video_id for s, v in found if v.class_key == c]
        pool = [v.video_id for s, v in found if v.class_key == c and s in config.score_splits]
        n = min(int(len(pool) * config.score_fraction), len(members) - 1)
        scored.update(pool[i] for i in rng.permutation(len(pool))[:n])
    return scored


def assign_videos(
    index: dict[str, SplitIndex], usable: Callable[[str, Video], bool], config: ProbeConfig
) -> tuple[list[str], list[ProbeVideo]]:
    """Label every usable video with its class among all classes; pick the scored ones.

    Returns:
        ``(classes, videos)``: sorted class keys, and videos in split then list order.
    """
    found = [(s, v) for s in SPLITS for v in index[s].videos if usable(s, v)]
    classes = sorted({v.class_key for _, v in found})
    label = {c: k for k, c in enumerate(classes)}
    if config.score_trained:
        scored = {v.video_id for s, v in found if s in config.score_splits}
    else:
        scored = _held_out(found, classes, config)
    videos = [
        ProbeVideo(
            video_id=v.video_id,
            class_key=v.class_key,
            split=s,
            label=label[v.class_key],
            scored=v.video_id in scored,
            trained=config.score_trained or v.video_id not in scored,
        )
        for s, v in found
    ]
    return classes, videos


def probe_folder(cache: Path, dataset: str, settings: dict) -> Path:
    """``<cache>/probes/<dataset>-<hash of settings>``, created, with ``settings.json``."""
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache) / "probes" / f"{dataset}-{key}"
    if read_json(folder / "settings.json") != json.loads(json.dumps(settings)):
        write_json(folder / "settings.json", settings)  # not rewritten in a read-only cache
    return folder


def _inputs(source, config: ProbeConfig, xcfg: ExtractConfig, *, device, workers, progress):
    """The mode's inputs, and the decoding processes it uses (0: cached features in-process)."""
    flip = config.flips(source.name)
    if config.mode == "tsm-resnet50":
        inputs = frame_inputs(source, xcfg.frames, config.size, flip)
        return inputs, max(1, len(os.sched_getaffinity(0)) - 1) if workers is None else workers
    inputs = feature_inputs(source, xcfg, flip, device=device, workers=workers, progress=progress)
    return inputs, 0


def ensure_probe(
    source: DataSource,
    config: ProbeConfig,
    xcfg: ExtractConfig,
    *,
    device: str | torch.device = "cpu",
    workers: int | None = None,
    progress: Progress | None = None,
) -> Probe:
    """Train the probe of a dataset (or load it, or resume it) and score its held-out videos.

    Args:
        source: the dataset (its index is read once, with its missing-video policy).
        config: probe settings.
        xcfg: feature extraction settings (``feature-tsm``; ``frames`` is ``T`` in both modes).
        device: where to train and score.
        workers: decoding processes (default: cores - 1) for the feature extraction or the
            ``tsm-resnet50`` frames; cached features are read in-process.
        progress: ``progress(stage, done, total)``.
    """
    info, device = source.dataset, torch.device(device)
    inputs, workers = _inputs(
        source, config, xcfg, device=device, workers=workers, progress=progress
    )
    classes, videos = assign_videos(inputs.index, inputs.usable, config)
    scored = [v for v in videos if v.scored]
    if not scored:
        need = max(2, math.ceil(1 / config.score_fraction))
        raise FsarError(
            f"{info.name}: nothing to score: with score_fraction {config.score_fraction:g} "
            f"a class needs {need} usable videos"
        )
    folder = probe_folder(source.cache, info.name, _settings(source, config, xcfg, inputs, videos))
    torch.manual_seed(config.seed)
    model = build_model(config, inputs.clips, len(classes))
    run = ProbeRun(
        model=model, clips=inputs.clips, device=device, workers=workers, progress=progress
    )
    with owned(folder, what=f"probe {folder}"):  # one writer
        record = trained_record(run, [v for v in videos if v.trained], config, folder)
        z = cached_scores(run, scored, folder, config.batch)
    return Probe(
        folder=folder,
        config=config,
        description=MODES[config.mode].format(backbone=inputs.backbone),
        classes=classes,
        videos=videos,
        scored=scored,
        frame_logits=z["frame_logits"],
        indices=z["indices"],
        clips=z["clips"].tolist(),
        record=record,
    )


def _settings(source: DataSource, config, xcfg, inputs, videos: list[ProbeVideo]) -> dict:
    """Everything hashed into the probe's folder key."""
    return {
        "format": PROBE_FORMAT,
        "dataset": source.dataset.name,
        "variant": source.variant,
        "T": xcfg.frames,
        "probe": asdict(config),
        "inputs": inputs.fingerprint,
        "videos": hashlib.sha256(str([astuple(v) for v in videos]).encode()).hexdigest(),
    }
