"""The cost probe times a training step of the cell's own batch."""

from types import SimpleNamespace

import torch

from fsar_bench.engine import cost_probe
from fsar_bench.engine.schedule import TrainConfig
from fsar_bench.methods import create_method

META = SimpleNamespace(frames=4, channels=8, map_size=(0, 0))  # pooled [T=4, C=8] inputs


def _cell(way: int, shot: int, query: int, batch: int) -> SimpleNamespace:
    """The fields of a pooled method's cell that the training probe reads."""
    return SimpleNamespace(
        setting=SimpleNamespace(way=way, shot=shot),
        train=TrainConfig(batch=batch, query=query),
        info=SimpleNamespace(input_kind="pooled"),
    )


def test_the_training_probe_times_steps_of_the_cells_batch(monkeypatch):
    """Warm-up and timed steps all have the cell's batch (at most MAX_BATCH), so a step's fixed
    costs spread over its episodes as in training."""
    sizes = []
    real = cost_probe._videos

    def spy(meta, n, pooled, gen):
        sizes.append(n)
        return real(meta, n, pooled, gen)

    monkeypatch.setattr(cost_probe, "_videos", spy)
    way, shot, query = 3, 2, 1
    for batch, timed in ((16, 16), (40, cost_probe.MAX_BATCH), (1, 1)):
        cell = _cell(way, shot, query, batch)
        sizes.clear()
        method = create_method("protonet", META.channels)
        seconds = cost_probe._train_seconds(method, cell, META, torch.Generator().manual_seed(0))
        # warm-up, then the timed steps, each on new inputs
        assert sizes == [timed * way * (shot + query)] * (1 + cost_probe.TIMED_STEPS)
        assert seconds > 0


def test_drawing_the_inputs_is_outside_the_clock(monkeypatch):
    """A clock that moves only while inputs are drawn: the probe must read no time at all."""
    clock = [0.0]
    real = cost_probe._videos

    def slow_draw(meta, n, pooled, gen):
        clock[0] += 1.0
        return real(meta, n, pooled, gen)

    monkeypatch.setattr(cost_probe, "_videos", slow_draw)
    monkeypatch.setattr(cost_probe.time, "perf_counter", lambda: clock[0])
    method = create_method("protonet", META.channels)
    cell = _cell(way=3, shot=1, query=1, batch=2)
    assert cost_probe._train_seconds(method, cell, META, torch.Generator().manual_seed(0)) == 0
