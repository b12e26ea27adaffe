"""Episode manifests: the exact test episodes every method is evaluated on.

A manifest is built once from a seeded ``numpy.random.Generator`` (never the global ``random``
module, never inside a ``Dataset.__getitem__``), written as canonical JSON, and identified by the
SHA-256 of its bytes. The same arguments give the same bytes. It lists, per episode, the classes
(label ``n`` is the ``n``-th class drawn), the support and query video ids per class, and, per
video, the frame indices every method reads.

Classes none of whose videos were found (possible only with ``--missing skip``) are left out and
listed under ``classes_absent``; a class with some videos but fewer than ``shot + query`` is an
error, since dropping it would silently change the protocol.

Drawing: :func:`fsar_bench.episodes.draw.draw_episode` (the same algorithm draws training
episodes), from ``numpy.random.default_rng(spec.seed)``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fsar_bench.data.index import SplitIndex
from fsar_bench.data.sampling import test_indices
from fsar_bench.episodes.draw import draw_episode
from fsar_bench.errors import FsarError
from fsar_bench.files import write_bytes

MANIFEST_FORMAT = 1


@dataclass(frozen=True, kw_only=True)
class EpisodeSpec:
    """Everything that determines a manifest."""

    dataset: str
    split: str = "test"
    way: int = 5
    shot: int = 1
    query: int = 1
    episodes: int = 10_000
    seed: int = 0
    frames: int = 8
    sampling: str = "trx"
    variant: str = ""


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A loaded manifest; ``sha256`` is the hash of the file's bytes."""

    spec: EpisodeSpec
    data: dict
    sha256: str
    path: Path | None = None

    @property
    def episodes(self) -> list[dict]:
        return self.data["episodes"]

    @property
    def videos(self) -> dict[str, dict]:
        return self.data["videos"]

    def arrays(self) -> tuple[list[list[str]], np.ndarray, list[list[str]], np.ndarray]:
        """Support ids ``[E][N*K]``, labels ``[E, N*K]``; query ids ``[E][N*Q]``, labels.

        Items are class-major: all shots of label 0, then label 1, ...
        """
        sup, qry = [], []
        for ep in self.episodes:
            sup.append([v for vids in ep["support"] for v in vids])
            qry.append([v for vids in ep["query"] for v in vids])
        s = self.spec
        sup_lab = np.tile(np.repeat(np.arange(s.way), s.shot), (len(sup), 1))
        qry_lab = np.tile(np.repeat(np.arange(s.way), s.query), (len(qry), 1))
        return sup, sup_lab, qry, qry_lab


def build_manifest(index: SplitIndex, spec: EpisodeSpec) -> bytes:
    """Draw the episodes and return the manifest's canonical JSON bytes."""
    by_class = {c: v for c, v in index.by_class().items() if v}  # absent classes: all missing
    _check_possible(spec, by_class)
    rng = np.random.default_rng(spec.seed)
    episodes, used = [], {}
    for _ in range(spec.episodes):
        drawn, support, query = draw_episode(rng, by_class, spec.way, spec.shot, spec.query)
        for v in (v for group in support + query for v in group):
            used[v.video_id] = v
        episodes.append(
            {
                "classes": drawn,
                "support": [[v.video_id for v in group] for group in support],
                "query": [[v.video_id for v in group] for group in query],
            }
        )
    videos = {
        vid: {
            "class": v.class_key,
            "path": v.path,
            "n_frames": v.n_frames,
            "frames": test_indices(v.n_frames, spec.frames, spec.sampling),
        }
        for vid, v in sorted(used.items())
    }
    data = {
        "format": MANIFEST_FORMAT,
        "spec": asdict(spec),
        "split_list_sha256": index.split.sha256,
        "classes_absent": [c for c in index.split.classes if c not in by_class],
        "videos": videos,
        "episodes": episodes,
    }
    return (json.dumps(data, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _check_possible(spec: EpisodeSpec, by_class: dict[str, list]) -> None:
    if min(spec.way, spec.shot, spec.query, spec.episodes, spec.frames) < 1 or spec.way < 2:
        raise FsarError("way must be at least 2, and shot, query, episodes and frames at least 1")
    if spec.seed < 0:
        raise FsarError(f"seed {spec.seed}: seeds must be >= 0")
    if len(by_class) < 2:
        raise FsarError(
            f"the {spec.dataset} {spec.split} split has {len(by_class)} classes with videos; "
            f"few-shot episodes need at least 2 (check --data-root and the split lists)"
        )
    if spec.way > len(by_class):
        raise FsarError(
            f"{spec.way}-way episodes are impossible: the {spec.dataset} {spec.split} split has "
            f"{len(by_class)} classes with videos; use --way {len(by_class)} or fewer"
        )
    need = spec.shot + spec.query
    short = {c: len(v) for c, v in by_class.items() if len(v) < need}
    if short:
        cls, n = next(iter(short.items()))
        raise FsarError(
            f"{spec.shot}-shot {spec.query}-query episodes need {need} videos per class, but "
            f"{len(short)} {spec.split} classes have fewer (e.g. {cls!r}: {n} found); lower "
            f"--shot/--query or provide the missing videos"
        )


def write_manifest(data: bytes, path: Path) -> str:
    """Write manifest bytes (atomically and durably) and return their SHA-256."""
    write_bytes(path, data, what="the episode manifest")
    return hashlib.sha256(data).hexdigest()


def parse_manifest(raw: bytes, path: Path | None = None) -> Manifest:
    """A manifest from its bytes (``path``: where they came from, for messages)."""
    where = path or "manifest bytes"
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise FsarError(f"cannot read episode manifest {where}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise FsarError(f"{where} is not an fsar-bench episode manifest (format {MANIFEST_FORMAT})")
    try:
        spec = EpisodeSpec(**data["spec"])
    except (KeyError, TypeError) as err:
        raise FsarError(f"{where} is not an fsar-bench episode manifest (its spec: {err})") from err
    return Manifest(
        spec=spec,
        data=data,
        sha256=hashlib.sha256(raw).hexdigest(),
        path=Path(path) if path else None,
    )


def load_manifest(path: Path) -> Manifest:
    """Read a manifest written by :func:`write_manifest`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise FsarError(f"cannot read episode manifest {path}: {err}") from err
    return parse_manifest(raw, Path(path))
