"""Fixtures of the fault-injection tests: the fork server and the uninterrupted reference."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faultkit import AEM, REPORT, RUN, Bench, Zygote  # noqa: E402


@pytest.fixture(scope="session")
def zygote():
    server = Zygote()
    yield server
    server.close()


@pytest.fixture(scope="session")
def reference(zygote, tmp_path_factory) -> Bench:
    """An uninterrupted run, report and analysis of the tiny synthetic dataset."""
    bench = Bench(tmp_path_factory.mktemp("reference"), zygote)
    for step in ("tiny_data", RUN, REPORT, AEM):
        assert bench.run(step) == 0, bench.log()[-3000:]
    return bench


@pytest.fixture
def bench(zygote, tmp_path) -> Bench:
    return Bench(tmp_path / "bench", zygote)
