"""TSM probe: video assignment, clip plans, determinism and exact resume, learning a start time."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy import stats

from conftest import write_frames
from fsar_bench.analysis.probe.clips import FeatureClips, FrameClips, allowed_views
from fsar_bench.analysis.probe.models import FeatureProbe, build_model
from fsar_bench.analysis.probe.train import ProbeRun, epoch_plans, score_probe, train_probe
from fsar_bench.analysis.probe.trained import ProbeConfig, ProbeVideo, assign_videos
from fsar_bench.data.index import Video
from fsar_bench.errors import FsarError
from fsar_bench.features.cache import (
    IDX_SUFFIX,
    STORE_FORMAT,
    FeatureStore,
    StoreMeta,
    shard_name,
    write_shard,
)
from fsar_bench.features.settings import ExtractConfig
from fsar_bench.features.views import plan_views
from fsar_bench.files import write_json

T, C = 8, 16


def write_store(folder: Path, split: str, feats: dict, idx: dict, views: int = 0) -> FeatureStore:
    """A complete store in the on-disk format: ``feats[id]`` ``[T, C, 1, 1]`` (or ``[V, ...]``)."""
    folder.mkdir(parents=True)
    tensors = {v: f.half() for v, f in feats.items()}
    tensors.update({v + IDX_SUFFIX: torch.as_tensor(i).int() for v, i in idx.items()})
    write_shard(
        folder=folder, k=0, tensors=tensors, videos=list(feats), failed={}, compute="cpu test"
    )
    settings = {
        "dataset": "toy",
        "split": split,
        "backbone": "efficientnet-lite0",
        "size": 64,
        "frames": T,
        "views": views,
        "seed": 0,
        "flip": True,
        "sampling": "trx",
    }
    meta = StoreMeta(key=folder.name, settings=settings, channels=C, map_size=(1, 1))
    write_json(
        folder / "meta.json",
        {
            "format": STORE_FORMAT,
            "key": folder.name,
            "meta": asdict(meta),
            "videos": {v: shard_name(0) for v in feats},
            "failed": {},
            "compute": [],
        },
    )
    return FeatureStore(folder)


def toy_videos(n_classes: int = 4, per_class: int = 10, seed: int = 0):
    """Features whose class signal starts growing at a random frame ``start`` (a motion)."""
    rng = np.random.default_rng(seed)
    feats, idx, starts, videos = {}, {}, {}, []
    for c in range(n_classes):
        for k in range(per_class):
            vid = f"c{c}_v{k}"
            start = int(rng.integers(0, T - 2))
            x = rng.normal(0, 0.5, (T, C)).astype(np.float32)
            x[start:, c] += 3.0 * np.arange(1, T - start + 1)  # changes every frame from start
            feats[vid] = torch.from_numpy(x)[..., None, None]  # [T, C, 1, 1]
            idx[vid] = np.arange(T) * 2
            starts[vid] = start
            videos.append(
                Video(video_id=vid, class_key=f"class{c}", path=f"frames/{vid}", n_frames=2 * T)
            )
    return feats, idx, starts, videos


def make_toy(tmp_path: Path) -> SimpleNamespace:
    """The toy store, its videos assigned (half of each class scored), a small config."""
    feats, idx, starts, videos = toy_videos()
    store = write_store(tmp_path / "store" / "k0", "test", feats, idx)
    index = {
        "train": SimpleNamespace(videos=[]),
        "val": SimpleNamespace(videos=[]),
        "test": SimpleNamespace(videos=videos),
    }
    config = ProbeConfig(epochs=3, batch=8, width=16, hidden=8, score_fraction=0.5)
    classes, probe_videos = assign_videos(index, lambda s, v: True, config)
    clips = FeatureClips({"test": store}, {})
    return SimpleNamespace(
        clips=clips,
        classes=classes,
        videos=probe_videos,
        config=config,
        starts=starts,
        tmp=tmp_path,
    )


@pytest.fixture
def toy(tmp_path):
    return make_toy(tmp_path)


def _train(toy, folder: Path, config: ProbeConfig | None = None, progress=None):
    config = config or toy.config
    torch.manual_seed(config.seed)
    model = build_model(config, toy.clips, len(toy.classes))
    trained = [v for v in toy.videos if not v.scored]
    folder.mkdir(parents=True, exist_ok=True)
    run = ProbeRun(model=model, clips=toy.clips, device=torch.device("cpu"), progress=progress)
    record = train_probe(run, trained, config, folder)
    return model, record


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_assignment_holds_out_a_seeded_half_per_class():
    videos = [
        Video(video_id=f"{s}{c}_{k}", class_key=f"{s}{c}", path="p", n_frames=9)
        for s in "tv"
        for c in range(3)
        for k in range(5)
    ]
    lonely = [Video(video_id="lonely", class_key="solo", path="p", n_frames=9)]
    index = {
        "train": SimpleNamespace(videos=videos[:15]),
        "val": SimpleNamespace(videos=videos[15:]),
        "test": SimpleNamespace(videos=lonely),
    }
    config = ProbeConfig(score_splits=("val", "test"), score_fraction=0.5)
    classes, out = assign_videos(index, lambda s, v: True, config)
    assert classes == sorted({v.class_key for v in videos} | {"solo"})
    assert all(classes[v.label] == v.class_key for v in out)
    assert all(v.trained != v.scored for v in out)
    scored = [v for v in out if v.scored]
    assert {v.split for v in scored} == {"val"}  # train split not scored; 1-video class kept whole
    assert all(sum(v.scored for v in scored if v.class_key == c) == 2 for c in ("v0", "v1", "v2"))
    again = assign_videos(index, lambda s, v: True, config)[1]
    other = assign_videos(index, lambda s, v: True, replace(config, seed=1))[1]
    assert again == out and other != out


def test_same_seed_same_weights_and_other_seed_differs(toy):
    a, rec_a = _train(toy, toy.tmp / "a")
    b, rec_b = _train(toy, toy.tmp / "b")
    c, _ = _train(toy, toy.tmp / "c", replace(toy.config, seed=1))
    assert _same_weights(a, b) and not _same_weights(a, c)
    assert [h["loss"] for h in rec_a["history"]] == [h["loss"] for h in rec_b["history"]]


def test_interrupted_training_resumes_to_the_same_weights(toy):
    ref, _ = _train(toy, toy.tmp / "ref")
    steps = -(-sum(not v.scored for v in toy.videos) // toy.config.batch)

    def interrupt(stage: str, done: int, total: int) -> None:
        if done == steps + 2:  # in the middle of the second epoch
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _train(toy, toy.tmp / "cut", progress=interrupt)
    seen: list[int] = []
    resumed, record = _train(toy, toy.tmp / "cut", progress=lambda s, d, t: seen.append(d))
    assert seen[0] == steps + 1  # restarted at the second epoch
    assert _same_weights(ref, resumed) and len(record["history"]) == toy.config.epochs


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["last.safetensors", "last.pt"])
def test_a_pickled_probe_checkpoint_is_refused_in_one_line(toy, name):
    folder = toy.tmp / "evil"
    folder.mkdir()
    marker = toy.tmp / "code-ran"
    torch.save({"model": _Payload(marker)}, folder / name)
    with pytest.raises(FsarError) as err:
        _train(toy, folder)
    assert "\n" not in str(err.value) and "refusing" in str(err.value)
    assert not marker.exists()


@pytest.mark.slow
def test_probe_learns_classes_and_start_times_of_held_out_videos(toy):
    config = replace(toy.config, epochs=60)
    model, _ = _train(toy, toy.tmp / "long", config)
    scored = [v for v in toy.videos if v.scored]
    out = score_probe(ProbeRun(model=model, clips=toy.clips, device=torch.device("cpu")), scored)
    logits = torch.from_numpy(out["frame_logits"])  # [V, T, K]
    labels = torch.tensor([v.label for v in scored])
    assert (logits.mean(1).argmax(-1) == labels).float().mean() >= 0.9
    p = torch.softmax(logits, -1)[torch.arange(len(scored)), :, labels]  # [V, T]
    first = (p >= 0.5).float().argmax(1).numpy()
    true = np.array([toy.starts[v.video_id] for v in scored])
    # idle frames carry no class signal, yet a classifier may still favour one class there
    assert stats.spearmanr(first, true).statistic > 0.5 and (first == true).mean() >= 0.6
    assert (out["indices"] == np.arange(T) * 2).all() and set(out["clips"]) == {"test clip"}


def test_allowed_views_drop_the_flipped_ones_and_check_indices(tmp_path):
    cfg = ExtractConfig(frames=T, views=4, seed=0, flip=True)
    videos = [
        Video(video_id=f"v{k}", class_key="a", path=f"p{k}", n_frames=30 + k) for k in range(6)
    ]
    plans = {v.video_id: plan_views(v, cfg, train=True) for v in videos}  # [V, T], [V, 3]
    feats = {v: torch.zeros(4, T, C, 1, 1) for v in plans}
    store = write_store(
        tmp_path / "s" / "k", "train", feats, {v: p[0] for v, p in plans.items()}, 4
    )
    allowed = allowed_views(store, videos, flip=False)
    assert allowed == {v: [k for k in range(4) if not p[1][k, 2]] for v, p in plans.items()}
    assert any(len(a) < 4 for a in allowed.values())
    assert allowed_views(store, videos, flip=True) == {v: [0, 1, 2, 3] for v in plans}
    clips = FeatureClips({"train": store}, allowed)
    vid = next(v for v, a in allowed.items() if a)
    assert clips.plan("train", vid, None) == ("train", vid, allowed[vid][0])
    rng = np.random.default_rng(0)
    assert all(clips.plan("train", vid, rng)[2] in allowed[vid] for _ in range(20))
    bad = write_store(
        tmp_path / "s" / "bad", "train", feats, {v: p[0] + 1 for v, p in plans.items()}, 4
    )
    with pytest.raises(FsarError, match="extraction plan"):
        allowed_views(bad, videos, flip=False)


def test_every_view_reads_each_allowed_view_once_per_epoch(tmp_path):
    views = {"v0": [0, 2], "v1": [1, 2, 3]}
    feats = {v: torch.zeros(4, T, C, 1, 1) for v in views}
    train = write_store(
        tmp_path / "s" / "tr", "train", feats, {v: np.zeros((4, T)) for v in views}, 4
    )
    test = write_store(
        tmp_path / "s" / "te", "test", {"w": torch.zeros(T, C, 1, 1)}, {"w": np.arange(T)}
    )
    clips = FeatureClips({"train": train, "test": test}, views)
    videos = [
        ProbeVideo(
            video_id=vid, class_key=f"c{k}", split=split, label=k, scored=False, trained=True
        )
        for k, (vid, split) in enumerate([("v0", "train"), ("v1", "train"), ("w", "test")])
    ]
    label = {"v0": 0, "v1": 1, "w": 2}
    rng = np.random.default_rng(0)
    plans, labels = epoch_plans(clips, videos, rng, every_view=True)
    expected = [("train", v, k) for v, ks in views.items() for k in ks] + [("test", "w", -1)]
    assert sorted(plans) == sorted(expected)
    assert labels == [label[p[1]] for p in plans]
    for _ in range(10):
        one, labels = epoch_plans(clips, videos, rng, every_view=False)
        assert sorted(p[1] for p in one) == ["v0", "v1", "w"]
        assert all(p[2] in views.get(p[1], [-1]) for p in one)
        assert labels == [label[p[1]] for p in one]


def test_difference_inputs_equal_a_raw_probe_fed_explicit_differences():
    torch.manual_seed(0)
    kw = dict(hidden=4, blocks=2, spatial=True, dropout=0.0)
    diff = FeatureProbe(C, 8, 3, inputs="diff", **kw).eval()
    raw = FeatureProbe(C, 8, 3, inputs="raw", **kw).eval()
    raw.load_state_dict(diff.state_dict())
    x = torch.randn(2, T, C, 3, 3)
    d = torch.zeros_like(x)
    for t in range(1, T):
        d[:, t] = x[:, t] - x[:, t - 1]
    torch.testing.assert_close(diff(x).frame_logits, raw(d).frame_logits)
    static = x[:, :1].expand(-1, T, -1, -1, -1)  # a clip that never changes
    out = diff(static).frame_logits  # [2, T, 3]
    torch.testing.assert_close(out, out[:1, :1].expand_as(out))  # no appearance reaches it


def test_frame_clips_follow_tsm_sampling(tmp_path):
    for k in range(2):
        write_frames(tmp_path / "frames" / f"v{k}", 12, size=40, seed=k)
    videos = {
        f"v{k}": Video(video_id=f"v{k}", class_key="a", path=f"frames/v{k}", n_frames=12)
        for k in range(2)
    }
    clips = FrameClips(tmp_path, videos, frames=4, size=32, flip=False)
    vid, idx, crop = clips.plan("test", "v0", None)
    assert idx.tolist() == [1, 4, 7, 10] and crop.tolist() == [-1, -1, 0]  # segment centres
    rng = np.random.default_rng(0)
    for _ in range(10):
        _, idx, crop = clips.plan("train", "v1", rng)
        assert all(3 * s <= i < 3 * (s + 1) for s, i in enumerate(idx)) and crop[2] == 0
    x = clips.load(clips.plan("test", "v0", None))
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8


@pytest.mark.slow
def test_tsm_resnet50_mode_trains_and_scores(tmp_path):
    for k in range(4):
        write_frames(tmp_path / "frames" / f"v{k}", 6, size=36, seed=k)
    videos = {
        f"v{k}": Video(video_id=f"v{k}", class_key=f"c{k % 2}", path=f"frames/v{k}", n_frames=6)
        for k in range(4)
    }
    index = {
        "train": SimpleNamespace(videos=list(videos.values())),
        "val": SimpleNamespace(videos=[]),
        "test": SimpleNamespace(videos=[]),
    }
    config = ProbeConfig(
        mode="tsm-resnet50", random_init=True, epochs=1, batch=2, score_fraction=0.5
    )
    classes, pv = assign_videos(index, lambda s, v: True, config)
    clips = FrameClips(tmp_path, videos, frames=2, size=32, flip=True)
    model = build_model(config, clips, len(classes))
    run = ProbeRun(model=model, clips=clips, device=torch.device("cpu"))
    record = train_probe(run, [v for v in pv if not v.scored], config, tmp_path)
    out = score_probe(run, [v for v in pv if v.scored])
    assert len(record["history"]) == 1 and np.isfinite(record["history"][0]["loss"])
    assert out["frame_logits"].shape == (2, 2, 2) and out["indices"].tolist() == [[1, 4]] * 2


def test_config_is_validated_and_flips_follow_tsm():
    with pytest.raises(FsarError, match="mode"):
        ProbeConfig(mode="tsn")
    with pytest.raises(FsarError, match="score_splits"):
        ProbeConfig(score_splits=("tset",))
    with pytest.raises(FsarError, match="optimizer"):
        ProbeConfig(optimizer="adam")
    with pytest.raises(FsarError, match="inputs"):
        ProbeConfig(inputs="flow")
    tsm_recipe = ("sgd", 0.02, 1e-4)  # scripts/train_tsm_kinetics_rgb_8f.sh
    assert ProbeConfig(mode="tsm-resnet50").recipe() == tsm_recipe
    assert ProbeConfig(optimizer="sgd").recipe() == tsm_recipe
    assert ProbeConfig().recipe()[0] == "adamw"
    assert ProbeConfig(lr=0.5, weight_decay=0.0).recipe() == ("adamw", 0.5, 0.0)
    auto = ProbeConfig()
    assert auto.flips("ucf101") and not auto.flips("ssv2-full") and not auto.flips("synthetic-mid")
    assert ProbeConfig(flip="yes").flips("ssv2-small") and not ProbeConfig(flip="no").flips(
        "ucf101"
    )
