"""Trainer and evaluator on toy cached features: batches, selection on val, plateau stop, resume
without pickle, streaming records."""

import json

import numpy as np
import pytest
import torch

from fsar_bench.data.index import SplitIndex, Video
from fsar_bench.data.splits import SplitList
from fsar_bench.engine.checkpoint import load_checkpoint
from fsar_bench.engine.evaluate import accuracies, evaluate, read_records
from fsar_bench.engine.schedule import TrainingState, after_validation, learning_rate
from fsar_bench.engine.train import (
    TrainConfig,
    TrainData,
    Trainer,
    draw_training_episode,
    load_best,
)
from fsar_bench.episodes.manifest import EpisodeSpec, Manifest, build_manifest
from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method

T, D, VIEWS = 4, 8, 2


def split(prefix: str, n_classes: int, per_class: int) -> SplitIndex:
    videos = [
        Video(video_id=f"{prefix}{c}_{i}", class_key=f"{prefix}{c}", path="x", n_frames=T)
        for c in range(n_classes)
        for i in range(per_class)
    ]
    lst = SplitList(
        path=None,
        sha256=prefix * 64,
        classes=tuple(f"{prefix}{c}" for c in range(n_classes)),
        videos=tuple((v.video_id, v.class_key) for v in videos),
    )
    return SplitIndex(split=lst, videos=videos, missing=[])


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


def make_trainer(toy, out, episodes=40, method="protonet", **cfg):
    torch.manual_seed(0)
    train, val_m, _, load = toy
    extra = {"num_frames": T} if method == "trn" else {}
    model = create_method(method, D, **extra)
    values = dict(episodes=episodes, lr=1e-2, val_every=10, val_episodes=30) | cfg
    data = TrainData(
        index=train,
        views=VIEWS,
        load=load,
        val_manifest=val_m,
        val_load=lambda ids: load(ids, None),
    )
    return Trainer(model, TrainConfig(**values), data, out_dir=out, device="cpu")


@pytest.mark.parametrize(("method", "batch"), [("protonet", 1), ("protonet", 3), ("trn", 3)])
def test_training_selects_on_validation_and_resumes_identically(toy, tmp_path, method, batch):
    # TRN++ draws frame subsets from its own generator and uses dropout: both are checkpointed
    a = make_trainer(toy, tmp_path / "a", method=method, batch=batch)
    best = a.fit()
    assert best == max(h["val"] for h in a.history) and len(a.history) == 4
    assert [h["step"] for h in a.history] == ([10, 20, 30, 40] if batch == 1 else [12, 21, 30, 40])
    assert a.stop_reason == "budget" and (tmp_path / "a" / "best.safetensors").is_file()
    assert {h["threads"] for h in a.history} == {torch.get_num_threads()}

    b = make_trainer(toy, tmp_path / "b", method=method, batch=batch)

    def stop(step, total, loss, val):
        if step >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        b.fit(progress=stop)
    c = make_trainer(toy, tmp_path / "b", method=method, batch=batch)
    c.fit()
    assert c.history == a.history
    for k, v in a.method.state_dict().items():
        assert torch.equal(v, c.method.state_dict()[k]), k
    assert (tmp_path / "a" / "best.safetensors").read_bytes() == (
        tmp_path / "b" / "best.safetensors"
    ).read_bytes()


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
        evaluate(method, test_m, load, device="cpu", records=part, chunk=7, block=21, progress=stop)
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


def test_a_batch_of_episodes_is_the_mean_of_single_episode_steps(toy, tmp_path):
    """Oracle: the batched loss and gradient equal the mean over the same episodes, one at a time
    through ``method.episodes`` (the former loop), drawn from the same generator."""
    t = make_trainer(toy, tmp_path / "t", batch=4)
    loss = t.train_batch(4)
    grads = {n: p.grad.clone() for n, p in t.method.named_parameters()}
    t.method.zero_grad()
    train, _, _, load = toy
    rng = np.random.default_rng(t.cfg.seed)
    losses = []
    for _ in range(4):
        sup, sl, qry, ql = draw_training_episode(rng, t.by_class, 5, 1, 1)
        x = load(sup + qry, rng.integers(0, VIEWS, len(sup) + len(qry)).tolist())
        out = t.method.episodes(x[None, :5], torch.as_tensor(sl)[None], x[None, 5:], 5)
        one = t.method.loss(out, torch.as_tensor(ql)[None]) / 4
        one.backward()
        losses.append(float(one.detach()) * 4)
    assert loss == pytest.approx(np.mean(losses), rel=1e-5)
    for n, p in t.method.named_parameters():
        torch.testing.assert_close(p.grad, grads[n], rtol=1e-4, atol=1e-6)


def test_plateau_stops_before_the_budget_and_is_not_repeated(toy, tmp_path):
    # min_delta 100: nothing after the first validation improves; patience 2 -> third one stops
    t = make_trainer(toy, tmp_path / "p", episodes=400, patience=2, min_delta=100.0)
    t.fit()
    assert t.stop_reason == "plateau" and [h["step"] for h in t.history] == [10, 20, 30]
    again = make_trainer(toy, tmp_path / "p", episodes=400, patience=2, min_delta=100.0)
    again.fit()  # resumes a finished training: nothing to do
    assert again.history == t.history and again.state.step == 30


def test_reduce_on_plateau_drops_the_rate_then_stops(toy, tmp_path):
    t = make_trainer(
        toy,
        tmp_path / "p",
        episodes=400,
        patience=2,
        min_delta=100.0,
        schedule="plateau",
        lr_drops=2,
        lr_factor=0.5,
    )
    t.fit()
    assert t.stop_reason == "plateau"
    assert [h["lr"] for h in t.history] == [1e-2] * 3 + [5e-3] * 2 + [2.5e-3] * 2


def test_plateau_rule_oracle():
    cfg = TrainConfig(episodes=100, patience=2, min_delta=1.0, schedule="plateau", lr_drops=1)
    p = TrainingState()
    seen = []
    accs = [30, 30.5, 31.2, 31.0, 31.9, 32.3, 32.0, 40, 40.5, 40]
    for step, acc in zip(range(10, 101, 10), accs):
        p.step = step
        new_best = after_validation(cfg, p, acc)
        seen.append((new_best, p.bad, p.drops, p.stop))
    # ref 30; 30.5 bad; 31.2 improves; 31.0, 31.9 bad (< 32.2) -> lr drop; 32.3 improves;
    # 32.0 bad; 40 improves; 40.5, 40 bad -> plateau at the smallest rate: stop (also the budget)
    assert seen == [
        (True, 0, 0, ""),
        (True, 1, 0, ""),
        (True, 0, 0, ""),
        (False, 1, 0, ""),
        (True, 0, 1, ""),
        (True, 0, 1, ""),
        (False, 1, 1, ""),
        (True, 0, 1, ""),
        (True, 1, 1, ""),
        (False, 2, 1, "plateau"),
    ]
    assert learning_rate(cfg, p) == pytest.approx(1e-5)


def test_no_plateau_is_counted_while_validation_stays_at_chance():
    """TRN++ on synthetic-high stayed at 19.6-20.4 % (5-way) and was stopped as 'converged'."""
    cfg = TrainConfig(episodes=100, patience=2, min_delta=1.0, schedule="plateau", lr_drops=1)
    at_chance, p = TrainingState(), TrainingState()
    for step, acc in zip(range(10, 101, 10), [19.6, 20.4, 19.8, 20.1, 20.4, 23.0, 22.5, 22.8]):
        at_chance.step = p.step = step
        after_validation(cfg, at_chance, acc, chance=20.0)
        after_validation(cfg, p, acc)  # no chance level: the old rule
        if step == 50:
            assert (at_chance.drops, at_chance.stop) == (0, "")
            assert (p.drops, p.stop) == (1, "plateau")
    # once it left chance (23.0 >= 21), 22.5 and 22.8 (< 24) are the first plateau: a rate drop
    assert (at_chance.drops, at_chance.bad, at_chance.stop) == (1, 0, "")


def test_cosine_rate_anneals_over_the_budget():
    cfg = TrainConfig(episodes=100, lr=0.2, schedule="cosine")
    rates = [learning_rate(cfg, TrainingState(step=s)) for s in (0, 50, 100)]
    assert rates == pytest.approx([0.2, 0.1, 0.0])


def test_parameters_stay_on_the_trainers_device_after_validation(toy, tmp_path):
    t = make_trainer(toy, tmp_path / "d")
    t.validate()
    assert {p.device for p in t.method.parameters()} == {t.device}
    assert not t.method.training  # evaluation mode until the next training step


class _Payload:
    """Unpickling this creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("name", ["last.safetensors", "last.pt"])
def test_a_pickled_checkpoint_is_refused_in_one_line(toy, tmp_path, name):
    out = tmp_path / "ck"
    out.mkdir()
    marker = tmp_path / "code-ran"
    torch.save({"model": _Payload(marker)}, out / name)
    t = make_trainer(toy, out)
    with pytest.raises(FsarError) as err:
        t.fit()
    assert "\n" not in str(err.value) and "refusing" in str(err.value)
    assert not marker.exists()


def test_checkpoint_has_no_pickle_and_loads_with_safetensors_only(toy, tmp_path):
    t = make_trainer(toy, tmp_path / "c", episodes=10)
    t.fit()
    tensors, meta = load_checkpoint(tmp_path / "c" / "last.safetensors")
    assert meta["progress"]["stop"] == "budget" and meta["progress"]["step"] == 10
    assert any(k.startswith("optimizer/") for k in tensors)
    assert not list((tmp_path / "c").glob("*.pt"))
