"""``fsar-bench run --trainings N``: training i is the run ``--set train.seed=<seed + i>`` makes,
and methods' trainings of one seed draw the same training episodes (common random numbers)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import toy_index
from fsar_bench.engine.cells import training_config
from fsar_bench.engine.request import RunRequest, check_request
from fsar_bench.engine.schedule import recorded
from fsar_bench.engine.train import TrainData, Trainer
from fsar_bench.errors import FsarError
from fsar_bench.methods import create_method
from fsar_bench.results.store import config_hash
from fsar_bench.results.summary import RunSummary, Training

METHODS = ("protonet", "otam", "trn", "ta2n")


@pytest.mark.parametrize("seed", [0, 5])
def test_training_i_is_the_run_that_set_train_seed_makes(seed):
    trained = check_request(RunRequest(methods=METHODS, shots=(1, 5), seed=seed, trainings=3))
    for i in range(3):
        alone = RunRequest(
            methods=METHODS, shots=(1, 5), seed=seed, sets={"train": {"seed": str(seed + i)}}
        )
        for key, res in check_request(alone).items():
            mine = training_config(trained[key].train, i)
            assert mine == res.train and mine.seed == seed + i, (key, i)
            # the run config hashes recorded(train): the same run folder and checkpoint
            assert config_hash(recorded(mine)) == config_hash(recorded(res.train))
    assert training_config(trained["ta2n", 1].train, 1) != trained["ta2n", 1].train


def test_trainings_beyond_the_largest_seed_are_refused():
    with pytest.raises(FsarError, match="--trainings 3"):
        check_request(RunRequest(methods=("protonet",), seed=2**32 - 2, trainings=3))
    with pytest.raises(FsarError, match="trainings must be >= 1"):
        RunRequest(trainings=0)


def _trainer(method: str, preset: str, seed: int, views: int = 3) -> Trainer:
    """A trainer of ``method``'s resolved ``preset`` training config for training ``seed``."""
    res = check_request(RunRequest(methods=(method,), shots=(1,), preset=preset))[method, 1]
    data = TrainData(
        index=toy_index(n_classes=8, per_class=6),
        views=views,
        load=lambda ids, v: torch.zeros(len(ids), 4, 8),
        val_manifest=None,
        val_load=None,
    )
    model = create_method("protonet", 8)  # the draw does not read the model
    cfg = training_config(res.train, seed)
    return Trainer(model, cfg, data, out_dir=None)


def _draw(trainer: Trainer, episodes: int) -> tuple[list, list]:
    """``episodes`` training episodes in the trainer's own batches: ids and views."""
    ids, views = [], []
    while len(ids) < episodes * 10:
        i, v = trainer.draw_batch(trainer.cfg.batch)
        ids, views = ids + i, views + v
    return ids[: episodes * 10], views[: episodes * 10]


def test_methods_of_one_training_seed_draw_the_same_training_episodes():
    """quick preset: batches of 16 (protonet, otam, trn) and 4 (ta2n), one query each: the same
    sequence of episodes and views, grouped differently."""
    batches = {m: _trainer(m, "quick", 1).cfg.batch for m in METHODS}
    assert batches == {"protonet": 16, "otam": 16, "trn": 16, "ta2n": 4}
    draws = {m: _draw(_trainer(m, "quick", 1), 48) for m in METHODS}
    assert all(d == draws["protonet"] for d in draws.values())
    assert _draw(_trainer("otam", "quick", 2), 48) != draws["protonet"]  # another training
    # paper: TA2N trains on 5 queries per class, the others on 1: other episodes
    paper = {m: _trainer(m, "paper", 1) for m in ("protonet", "ta2n")}
    assert (paper["protonet"].cfg.query, paper["ta2n"].cfg.query) == (1, 5)
    assert _draw(paper["protonet"], 8)[0][:10] != _draw(paper["ta2n"], 8)[0][:10]


def test_summaries_record_the_training_and_older_ones_read_as_the_only_one(tmp_path):
    from toys import fake_run, flat

    run, _ = fake_run(tmp_path, "toy", "otam", 1, flat(0.5), train_seed=7)
    data = json.loads((run.path / "summary.json").read_text())
    assert data["training"] == {"seed": 7, "index": 0, "of": 1}  # filled in when not given
    made = {**data, "training": {"seed": 9, "index": 2, "of": 3}}
    assert RunSummary.from_json(made).training == Training(seed=9, index=2, of=3)
    old = {k: v for k, v in data.items() if k != "training"}
    assert RunSummary.from_json(old).training == Training(seed=7, index=0, of=1)
    older = {**old, "train_config": {"episodes": 10}}  # before train.seed was recorded
    assert RunSummary.from_json(older).training.seed == older["setting"]["seed"]
