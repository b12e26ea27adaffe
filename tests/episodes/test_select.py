"""``--select val | last | holdout:K``: parsing, the held-out classes, the errors, and the
trainer keeping its final weights without a validation manifest."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from safetensors.torch import load_file

from conftest import toy_index
from fsar_bench.engine.select import (
    Selection,
    check_selection,
    holdout,
    parse_select,
    select_indexes,
)
from fsar_bench.engine.train import TrainConfig, TrainData, Trainer
from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method


def test_parse_select():
    assert parse_select("val") == Selection(mode="val")
    assert parse_select(" LAST ") == Selection(mode="last")
    assert parse_select("holdout:3") == Selection(mode="holdout", k=3)
    assert str(parse_select("holdout:3")) == "holdout:3"
    assert parse_select("last").splits == ("train", "test")
    for bad in ("holdout", "holdout:1", "holdout:x", "best", "val:2", ""):
        with pytest.raises(FsarError, match="choose val, last or holdout:K"):
            parse_select(bad)


def renamed(index, prefix: str):
    """``toy_index`` with its classes renamed ``<prefix><k>``."""
    name = {c: f"{prefix}{k}" for k, c in enumerate(index.split.classes)}
    videos = [dataclasses.replace(v, class_key=name[v.class_key]) for v in index.videos]
    split = dataclasses.replace(
        index.split,
        classes=tuple(name.values()),
        videos=tuple((v, name[c]) for v, c in index.split.videos),
    )
    return dataclasses.replace(index, split=split, videos=videos)


def test_holdout_is_seeded_disjoint_and_never_a_test_class():
    train = renamed(toy_index(8, 3), "tr")
    # a train class that (wrongly) also is a test class is never held out
    test = renamed(toy_index(2, 3), "tr")
    left, held_out, held = holdout(train, test, 3, seed=0, way=2)
    assert held == holdout(train, test, 3, seed=0, way=2)[2]  # seeded
    assert {holdout(train, test, 3, seed=s, way=2)[2] for s in range(6)} != {held}
    assert len(held) == 3 and not set(held) & {"tr0", "tr1"}
    assert set(held_out.split.classes) == set(held) == {v.class_key for v in held_out.videos}
    assert not set(held) & {v.class_key for v in left.videos}
    assert len(left.videos) + len(held_out.videos) == len(train.videos)
    assert set(left.split.classes) | set(held) == set(train.split.classes)
    with pytest.raises(FsarError, match="holding 5 out leaves 1, but 2-way training"):
        holdout(train, test, 5, seed=0, way=2)


def test_too_few_validation_classes_name_the_options():
    index = toy_index(4, 3)
    empty = dataclasses.replace(index, videos=[])
    indexes = {"train": index, "val": empty, "test": renamed(toy_index(2, 3), "te")}
    with pytest.raises(FsarError) as err:
        check_selection(indexes, parse_select("val"), "ssv2-full", 0, 5)
    text = str(err.value)
    assert "val split has 0 classes with videos, but 5-way validation episodes need 5" in text
    assert "--select holdout:K" in text and "--select last" in text
    check_selection(indexes, parse_select("holdout:2"), "x", 0, 2)
    ix, record = select_indexes(indexes, parse_select("holdout:2"), 0, 2)
    assert record == {
        "mode": "holdout",
        "k": 2,
        "seed": 0,
        "classes": list(ix["holdout"].split.classes),
    }
    assert select_indexes(indexes, parse_select("last"), 0, 2)[1] == {"mode": "last"}


def test_without_a_validation_manifest_the_final_weights_are_kept(tmp_path):
    torch.manual_seed(0)
    index = toy_index(4, 3, frames=4)
    feats = {v.video_id: torch.randn(2, 4, 6) for v in index.videos}

    def load(ids, views=None):
        return torch.stack(
            [feats[v][0 if views is None else w] for v, w in zip(ids, views or [None] * len(ids))]
        )

    method = create_method("protonet", 6, learn_scale=True)
    start = {k: v.clone() for k, v in method.state_dict().items()}
    cfg = TrainConfig(episodes=4, lr=0.1, val_every=2)
    data = TrainData(index=index, views=2, load=load, val_manifest=None, val_load=None, way=2)
    trainer = Trainer(method, cfg, data, out_dir=tmp_path, device="cpu")
    trainer.fit()
    assert [h["val"] for h in trainer.history] == [None, None] and trainer.best == -1.0
    kept = load_file(str(tmp_path / "best.safetensors"))
    final = method.state_dict()
    assert kept.keys() == final.keys() and all(torch.equal(kept[k], final[k]) for k in kept)
    assert any(not torch.equal(kept[k], start[k]) for k in kept)  # it trained
