from dataclasses import dataclass

import pytest

from fsar_bench.engine.overrides import apply, parse_sets
from fsar_bench.errors import FsarError


@dataclass(frozen=True)
class Cfg:
    lam: float = 0.1
    steps: int = 3
    on: bool = True
    name: str = "otam"
    scale: float | None = None


def test_typed_overrides():
    sets = parse_sets(["x.lam=0.05", "x.steps=7", "x.on=false", "x.name=plain-dtw", "y.a=1"])
    cfg = apply(Cfg(), sets["x"], "x")
    assert cfg == Cfg(lam=0.05, steps=7, on=False, name="plain-dtw")
    assert apply(Cfg(), {"scale": "none"}, "x").scale is None
    assert apply(Cfg(), {"scale": "2.5"}, "x").scale == 2.5


@pytest.mark.parametrize(
    "items,msg",
    [
        (["lam=1"], "expected SECTION.FIELD=VALUE"),
        (["x.lamb=1"], "no such field. Did you mean lam?"),
        (["x.steps=1.5"], "expected an int"),
        (["x.on=maybe"], "expected a bool"),
    ],
)
def test_bad_overrides_fail_clearly(items, msg):
    with pytest.raises(FsarError, match=msg):
        sets = parse_sets(items)
        apply(Cfg(), sets["x"], "x")
