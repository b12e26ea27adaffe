"""Trainer and evaluator on toy cached features: selection on val, resume, streaming records."""

import json

import numpy as np
import pytest
import torch

from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.splits import SplitList
from fsar_bench.engine.evaluate import accuracies, evaluate, read_records
from fsar_bench.engine.train import TrainConfig, TrainData, Trainer, load_best
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest
from fsar_bench.methods import create_method

T, D, VIEWS = 4, 8, 2


def split(prefix: str, n_classes: int, per_class: int) -> SplitIndex:
    videos = [
        Video(f"{prefix}{c}_{i}", f"{prefix}{c}", "x", T)
        for c in range(n_classes)
        for i in range(per_class)
    ]
    lst = SplitList(
        None,
        prefix * 64,
        tuple(f"{prefix}{c}" for c in range(n_classes)),
        tuple((v.video_id, v.class_key) for v in videos),
    )
    return SplitIndex(lst, videos, [])


def features(index: SplitIndex, seed: int) -> dict[str, torch.Tensor]:
    """Class centre + noise, [VIEWS + 1, T, D] per video (last = test-time view)."""
    g = torch.Generator().manual_seed(seed)
    centres = {c: torch.randn(D, generator=g) for c in index.split.classes}
    return {
        v.video_id: centres[v.class_key] + 1.5 * torch.randn(VIEWS + 1, T, D, generator=g)
        for v in index.videos
    }


@pytest.fixture
def toy():
    train, val, test = split("tr", 8, 6), split("va", 5, 6), split("te", 5, 6)
    feats = {**features(train, 0), **features(val, 1), **features(test, 2)}

    def load(ids, views=None):
        return torch.stack(
            [
                feats[v][VIEWS if views is None else w]
                for v, w in zip(ids, views or [None] * len(ids))
            ]
        )

    def manifest(index, n, seed):
        spec = EpisodeSpec(dataset="toy", episodes=n, seed=seed, frames=T)
        return Manifest(spec=spec, data=json.loads(build_manifest(index, spec)), sha256="h")

    return train, manifest(val, 30, 1), manifest(test, 50, 2), load


def make_trainer(toy, out, episodes=40):
    torch.manual_seed(0)
    train, val_m, _, load = toy
    method = create_method("protonet", D)
    cfg = TrainConfig(episodes=episodes, lr=1e-2, val_every=10, val_episodes=30)
    data = TrainData(index=train, views=VIEWS, load=load, val_manifest=val_m,
                     val_load=lambda ids: load(ids, None))  # fmt: skip
    return Trainer(method, cfg, data, out_dir=out, device="cpu")


def test_training_selects_on_validation_and_resumes_identically(toy, tmp_path):
    a = make_trainer(toy, tmp_path / "a")
    best = a.fit()
    assert best == max(h["val"] for h in a.history) and len(a.history) == 4
    assert (tmp_path / "a" / "best.safetensors").is_file()

    b = make_trainer(toy, tmp_path / "b")

    def stop(step, total, loss, val):
        if step == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        b.fit(progress=stop)
    c = make_trainer(toy, tmp_path / "b")
    c.fit()
    assert c.history == a.history
    for k, v in a.method.state_dict().items():
        assert torch.equal(v, c.method.state_dict()[k]), k


def test_evaluation_streams_and_resumes(toy, tmp_path):
    train, _, test_m, load = toy
    torch.manual_seed(0)
    method = create_method("protonet", D).eval()
    full = evaluate(
        method, test_m, load, device="cpu", records=tmp_path / "full.jsonl", chunk=7, block=21
    ).records
    assert [r["episode"] for r in full] == list(range(50))
    acc = accuracies(full)
    assert acc.mean() > 40  # separable toy classes: well above 20% chance

    def stop(done, total):
        if done >= 14:
            raise KeyboardInterrupt

    part = tmp_path / "part.jsonl"
    with pytest.raises(KeyboardInterrupt):
        evaluate(method, test_m, load, device="cpu", records=part, chunk=7, block=21,
                 progress=stop)  # fmt: skip
    with open(part, "ab") as fh:
        fh.write(b'{"episode": 14, "corr')  # torn write of a killed process
    assert len(read_records(part)) == 14
    again = evaluate(method, test_m, load, device="cpu", records=part, chunk=7, block=21)
    assert again.records == full


def test_load_best_restores_selected_weights(toy, tmp_path):
    a = make_trainer(toy, tmp_path / "a")
    a.fit()
    fresh = load_best(create_method("protonet", D), tmp_path / "a")
    assert set(fresh.state_dict()) == set(a.method.state_dict())
    assert np.isfinite(a.best)
