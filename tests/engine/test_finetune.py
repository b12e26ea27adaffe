"""The fine-tuned track (``run --finetune``): EfficientNet-Lite0 at 64 px trained with a method on
decoded clips of a tiny synthetic dataset. The loss falls, the backbone changes, an interrupted
training resumes to the same weights, and runs record that they were fine-tuned."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from fsar_bench.cli import main
from fsar_bench.data.datasets import resolve_dataset
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.engine.finetune import PLANS, Clips, clip_settings, flips
from fsar_bench.engine.presets import FINETUNE, train_config
from fsar_bench.engine.train import Trainer
from fsar_bench.methods import METHODS
from fsar_bench.results.summary import Setting
from fsar_bench.source import DataSource


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft") / "data"
    cfg = preset(
        "mid",
        train_classes=4,
        val_classes=4,
        test_classes=4,
        videos_per_class=4,
        frames=12,
        size=64,
    )
    generate(root, cfg)
    return root


def clips(data, tmp_path, workers: int) -> tuple[Clips, dict]:
    source = DataSource.resolve("synthetic-mid", data_root=data, cache_dir=tmp_path / "cache")
    indexes = source.index()
    settings = clip_settings(
        dataset=source.dataset,
        backbone="efficientnet-lite0",
        weights=None,
        frames=4,
        size=64,
        seed=0,
    )
    return Clips(data, indexes, settings, workers=workers, device=torch.device("cpu")), indexes


def trainer(data, tmp_path, out, workers=0, **train) -> tuple[Trainer, dict]:
    """A 3-way 1-shot protonet trainer on the train split's clips (no validation)."""
    torch.manual_seed(0)
    c, indexes = clips(data, tmp_path, workers)
    model = c.model(METHODS.get("protonet"), {"learn_scale": True, "adapter": False})
    cfg = dataclasses.replace(train_config(None, "quick+finetune", {}, 0), **train)
    setting = Setting(
        dataset="x", way=3, shot=1, query=1, episodes=1, protocol="quick", seed=0, frames=8
    )
    data_ = c.train_data(indexes["train"], None, setting)
    return Trainer(model, cfg, data_, out_dir=out, device="cpu"), indexes


def weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_finetune_presets_and_flip_policy():
    assert train_config(None, "quick+finetune", {}, 0).episodes == int(
        FINETUNE["quick"]["episodes"]
    )
    ta2n = METHODS.get("ta2n")
    paper = train_config(ta2n, "paper+finetune", {}, 0)
    # the official runner: SGD 1e-3 without momentum, 16 single-episode gradients, 5 queries
    assert (paper.optimizer, paper.lr, paper.momentum) == ("sgd", 1e-3, 0.0)
    assert (paper.batch, paper.accumulate, paper.query) == (1, 16, 5)
    assert train_config(ta2n, "paper", {}, 0).batch == 16  # the frozen track keeps its recipe
    user = train_config(ta2n, "paper+finetune", {"train": {"accumulate": "4"}}, 0)
    assert user.accumulate == 4
    assert not flips(resolve_dataset("ssv2-small"))
    assert not flips(resolve_dataset("synthetic-mid"))
    assert flips(resolve_dataset("ucf101"))


def test_finetune_option_reaches_the_request(monkeypatch, tmp_path):
    import fsar_bench.engine.run as run

    seen = {}
    monkeypatch.setattr(
        run, "run_benchmark", lambda source, req, progress, **kw: seen.update(req=req) or []
    )
    monkeypatch.setattr("fsar_bench.report.console.run_tables", lambda *a: "")
    args = [
        "run",
        "--methods",
        "protonet",
        "--finetune",
        "--workers",
        "0",
        "--data-root",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "c"),
        "--runs-dir",
        str(tmp_path / "r"),
    ]
    assert main(args) == 0
    req = seen["req"]
    assert (req.finetune, req.workers, req.recipe) == (True, 0, "quick+finetune")


def test_clips_follow_their_plans(data, tmp_path):
    c, indexes = clips(data, tmp_path, workers=1)
    ids = [v.video_id for v in indexes["train"].videos[:3]]
    a = c.loader.load(ids, [5, 6, 7])
    assert a.shape == (3, 4, 3, 64, 64) and a.dtype == torch.uint8
    c.loader.prefetch(ids, [5, 6, 7])
    assert torch.equal(c.loader.load(ids, [5, 6, 7]), a)  # read ahead: same clips
    c.loader.prefetch(ids, [1, 2, 3])
    assert torch.equal(c.loader.load(ids, [5, 6, 7]), a)  # a wrong guess is dropped
    assert not torch.equal(c.loader.load(ids, [8, 6, 7])[0], a[0])  # another plan, another clip
    test = c.loader.load(ids)
    assert torch.equal(test, c.loader.load(ids))
    first = indexes["train"].videos[0]
    assert c.loader.plan(first.video_id, None)[2].tolist() == [[-1, -1, 0]]  # centre crop
    assert PLANS > 2**30


def test_resumed_fused_adam_matches_a_channels_last_parameter():
    """Checkpointed optimiser states come back contiguous; fused Adam must still pair them with
    a channels-last parameter's elements (the backbone's convolutions)."""
    from fsar_bench.engine import checkpoint as ck

    torch.manual_seed(0)
    w = torch.randn(8, 3, 3, 3).contiguous(memory_format=torch.channels_last)
    grads = [torch.randn(8, 3, 3, 3).contiguous(memory_format=torch.channels_last) for _ in "ab"]

    def adam(p):
        return torch.optim.Adam([p], lr=0.1, fused=True)

    p = torch.nn.Parameter(w.clone())
    opt = adam(p)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    q = torch.nn.Parameter(w.clone())
    first = adam(q)
    q.grad = grads[0].clone()
    first.step()
    tensors, meta = ck.optimizer_parts(first)
    again = adam(q)
    ck.load_optimizer(again, {k: v.contiguous() for k, v in tensors.items()}, meta)
    q.grad = grads[1].clone()
    again.step()
    assert torch.equal(p.detach(), q.detach())


def test_training_reads_each_batch_ahead(data, tmp_path):
    """Each step's clips were started during the previous step (one start per step, plus the
    first batch), not decoded on demand."""
    t, _ = trainer(data, tmp_path, tmp_path / "ahead", episodes=3, batch=1, val_every=3)
    loader, starts = t.data, []
    clip_loader = loader.load.__self__
    start = clip_loader._start
    clip_loader._start = lambda ids, views: starts.append(ids) or start(ids, views)
    t.fit()
    assert len(starts) == 1 + 3  # the first load, then one read-ahead per step


@pytest.mark.slow
def test_finetuning_lowers_the_loss_changes_the_backbone_and_resumes_exactly(data, tmp_path):
    """Unbroken vs interrupted after the first checkpoint (and read-ahead in a worker vs none):
    the same final weights, bit for bit."""
    run = dict(episodes=32, batch=2, val_every=16, lr=1e-3)
    full, _ = trainer(data, tmp_path, tmp_path / "a", workers=1, **run)
    before = weights(full.method.backbone)
    full.fit()
    losses = [h["loss"] for h in full.history]
    assert losses[-1] < 0.8 * losses[0], losses
    after = weights(full.method.backbone)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) > len(before) // 2

    broken, _ = trainer(data, tmp_path, tmp_path / "b", **run)

    def stop(step, *_):
        if step == 16:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        broken.fit(progress=stop)
    resumed, _ = trainer(data, tmp_path, tmp_path / "b", **run)
    resumed.fit()
    assert resumed.history == full.history
    final = weights(resumed.method)
    assert all(torch.equal(v, final[k]) for k, v in weights(full.method).items())


@pytest.mark.slow
def test_finetune_run_records_it_and_shares_the_frozen_manifest(data, tmp_path):
    common = [
        "--methods",
        "protonet",
        "--shots",
        "1",
        "--way",
        "3",
        "--episodes",
        "6",
        "--size",
        "64",
        "--data-root",
        str(data),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "train.episodes=4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=3",
        "--set",
        "train.batch=2",
    ]
    assert main(["run", *common, "--finetune", "--workers", "1"]) == 0
    assert main(["run", *common]) == 0
    runs = {}
    for path in (tmp_path / "runs").glob("*/*/summary.json"):
        summary = json.loads(path.read_text())
        config = json.loads((path.parent / "config.json").read_text())
        assert config.get("finetune", False) == summary["finetune"]
        runs[summary["finetune"]] = (path.parent.name, summary)
        if summary["finetune"]:  # the quick+finetune recipe under the user's --set
            assert config["method_config"]["adapter"] is False
            assert config["train_config"]["lr"] == float(FINETUNE["quick"]["lr"])
            assert config["train_config"]["batch"] == 2
    (ft_dir, ft), (fz_dir, fz) = runs[True], runs[False]
    assert ft_dir != fz_dir and ft["manifest"] == fz["manifest"]  # paired episode by episode
    assert ft["features"] == {} and ft["clips"]["size"] == 64 and not ft["clips"]["flip"]
    assert ft["train_episodes"] == 4 and len(ft["train_history"]) == 2
    assert np.isfinite(ft["accuracy"]["mean"])
    checkpoint = ft["checkpoint"]
    from safetensors.torch import load_file

    assert any(k.startswith("backbone.") for k in load_file(checkpoint))
