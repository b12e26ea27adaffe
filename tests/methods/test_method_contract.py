"""Contract tests over every registered method (timm-style): shapes, equivariance, determinism.

The methods are collected by :func:`loaded_names`, which loads every entry's class and config:
a registered entry that does not load (a typo in its ``"module:Class"``, a module that fails to
import) fails the collection of this file with the entry named, never a skip.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fsar_bench.methods import METHODS, MethodInfo, create_method
from fsar_bench.registry import Registry, load

FRAMES, DIM, CHANNELS, SIZE = 8, 16, 16, 3


def loaded_names(registry: Registry[MethodInfo]) -> list[str]:
    """Every registered name, after loading each entry's class and config; raises, naming each
    entry that does not load, instead of leaving it to a skip."""
    broken = []
    for name in registry.names():
        try:
            info = registry.get(name)
            load(info.factory), load(info.config)
        except Exception as err:  # any failure to load is the entry's fault
            broken.append(f"{name} ({type(err).__name__}: {err})")
    if broken:
        raise RuntimeError(f"registered methods that do not load: {'; '.join(broken)}")
    return registry.names()


def build(name: str):
    """The method with default config at tiny sizes."""
    info = METHODS.get(name)
    torch.manual_seed(0)  # parameter init only
    model = create_method(name, CHANNELS if info.input_kind == "spatial" else DIM)
    return model, info.input_kind


def videos(kind: str, *lead: int, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    tail = (FRAMES, CHANNELS, SIZE, SIZE) if kind == "spatial" else (FRAMES, DIM)
    return torch.randn(*lead, *tail, generator=gen)


def episodes(kind: str, n_way: int, shots: int, n_episodes: int = 2, n_query: int = 6):
    gen = torch.Generator().manual_seed(1)
    labels = torch.stack(
        [torch.randperm(n_way * shots, generator=gen) % n_way for _ in range(n_episodes)]
    )
    support = videos(kind, n_episodes, n_way * shots, seed=2)
    query = videos(kind, n_episodes, n_query, seed=3)
    return support, labels, query


NAMES = loaded_names(METHODS)  # at collection: an entry that does not load fails this file


def test_an_entry_that_does_not_load_fails_the_collection() -> None:
    registry: Registry[MethodInfo] = Registry("method", entry_type=MethodInfo)
    good = METHODS.get("protonet")
    registry.register(good)
    assert loaded_names(registry) == ["protonet"]
    typo = dataclasses.replace(
        good, name="typo", aliases=(), factory="fsar_bench.methods.protonet:ProtoNett"
    )
    registry.register(typo)
    with pytest.raises(RuntimeError, match=r"do not load: typo \(AttributeError"):
        loaded_names(registry)
    gone = dataclasses.replace(good, name="gone", aliases=(), factory="fsar_bench.methods.nope:X")
    registry.register(gone)
    with pytest.raises(RuntimeError, match=r"gone \(ModuleNotFoundError.*; typo "):
        loaded_names(registry)


@pytest.mark.parametrize("shots", [1, 3])
@pytest.mark.parametrize("name", NAMES)
def test_shapes_finite_and_extras(name: str, shots: int) -> None:
    model, kind = build(name)
    support, labels, query = episodes(kind, 5, shots)
    with torch.no_grad():
        out = model.eval().episodes(support, labels, query, 5)
    assert out.logits.shape == (2, 6, 5)
    assert torch.isfinite(out.logits).all()
    for key, value in out.extras.items():
        assert value.shape[0] == 2, f"extras[{key!r}] must lead with E"


@pytest.mark.parametrize("name", NAMES)
def test_relabelling_classes_permutes_logit_columns(name: str) -> None:
    model, kind = build(name)
    support, labels, query = episodes(kind, 5, 3)
    perm = torch.tensor([3, 0, 4, 1, 2])  # class c is renamed perm[c]
    with torch.no_grad():
        model.eval()
        base = model.episodes(support, labels, query, 5).logits
        moved = model.episodes(support, perm[labels], query, 5).logits
    torch.testing.assert_close(moved[..., perm], base, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_eval_is_deterministic(name: str) -> None:
    model, kind = build(name)
    support, labels, query = episodes(kind, 5, 1)
    with torch.no_grad():
        model.eval()
        first = model.episodes(support, labels, query, 5).logits
        second = model.episodes(support, labels, query, 5).logits
    torch.testing.assert_close(first, second, rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_gradient_reaches_parameters(name: str) -> None:
    model, kind = build(name)
    support, labels, query = episodes(kind, 5, 1, n_episodes=1, n_query=5)
    model.train()
    out = model.episodes(support, labels, query, 5)
    model.loss(out, torch.arange(5)[None]).backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", NAMES)
def test_two_phase_api_equals_episodes(name: str) -> None:
    model, kind = build(name)
    support, labels, query = episodes(kind, 5, 3, n_episodes=1)
    with torch.no_grad():
        model.eval()
        batched = model.episodes(support, labels, query, 5)
        model.process_support_set(support[0], labels[0])
        single = model(query[0])
    assert single.logits.shape == (6, 5)
    torch.testing.assert_close(single.logits, batched.logits[0])
    for key, value in single.extras.items():
        torch.testing.assert_close(value, batched.extras[key][0])


@pytest.mark.parametrize("name", NAMES)
def test_embed_state_leads_with_videos(name: str) -> None:
    model, kind = build(name)
    state = model.eval().embed(videos(kind, 7))
    assert state and all(v.shape[0] == 7 for v in state.values())


def test_every_registered_method_declares_its_input_kind() -> None:
    for info in METHODS:
        assert info.input_kind in ("pooled", "spatial")
        assert load(info.factory).input_kind == info.input_kind
