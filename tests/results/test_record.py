"""Typed result records (:mod:`fsar_bench.results.record`): what ``to_json`` writes and that
``from_json`` reads it back, field by field."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from fsar_bench.errors import FsarError
from fsar_bench.results.record import JsonRecord, absent_when_none, inline, json_name
from fsar_bench.results.stats import Interval, PairedDifference


@dataclass(frozen=True, kw_only=True)
class Part(JsonRecord):
    a: int
    b: float


@dataclass(frozen=True, kw_only=True)
class Whole(JsonRecord):
    name: str = json_name("class")
    parts: tuple[Part, ...]
    pair: tuple[float, float] | None
    flat: Part = inline()
    note: str = "n"
    extra: Part | None = absent_when_none()


def whole(**kw) -> Whole:
    args = dict(name="x", parts=(Part(a=1, b=0.5),), pair=(1.0, 2.0), flat=Part(a=2, b=3.0))
    return Whole(**{**args, **kw})


def test_to_json_writes_fields_in_order_renamed_inlined_and_without_absent_parts():
    out = whole().to_json()
    assert list(out) == ["class", "parts", "pair", "a", "b", "note"]
    assert out["parts"] == [{"a": 1, "b": 0.5}] and out["pair"] == [1.0, 2.0]
    assert "extra" in whole(extra=Part(a=0, b=0.0)).to_json()


def test_from_json_reads_back_nested_records_and_tuples():
    w = whole(extra=Part(a=5, b=6.0))
    back = Whole.from_json(json.loads(json.dumps(w.to_json())))
    assert back == w and isinstance(back.parts, tuple) and isinstance(back.parts[0], Part)
    assert Whole.from_json({**w.to_json(), "unknown": 1}) == w  # newer keys are ignored


def test_nan_is_written_as_null_and_read_as_nan_for_a_float():
    out = Part(a=1, b=float("nan")).to_json()
    assert json.dumps(out, allow_nan=False) == '{"a": 1, "b": null}'
    assert math.isnan(Part.from_json(out).b)
    assert whole(pair=None).to_json()["pair"] is None  # an optional field stays None
    assert Whole.from_json(whole(pair=None).to_json()).pair is None


def test_a_missing_key_is_a_one_line_error():
    with pytest.raises(FsarError, match="Part: no 'b' in the JSON object"):
        Part.from_json({"a": 1})
    with pytest.raises(FsarError, match="expected a JSON object"):
        Part.from_json([1, 2])
    with pytest.raises(FsarError, match="Whole.parts: null where a tuple"):
        Whole.from_json({**whole().to_json(), "parts": None})
    with pytest.raises(FsarError, match="Part.a: null where a int belongs"):
        Part.from_json({"a": None, "b": 1.0})


def test_paired_difference_writes_its_interval_first_and_flat():
    d = PairedDifference(
        diff=Interval(mean=1.5, ci95=0.5, n=4), t_pvalue=0.1, wilcoxon_pvalue=0.2, wins=3, losses=1
    )
    out = d.to_json()
    assert list(out) == ["mean", "ci95", "n", "t_pvalue", "wilcoxon_pvalue", "wins", "losses"]
    assert PairedDifference.from_json(out) == d
