"""Methods from other packages: ``fsar_bench.methods`` entry points and ``module:Class`` paths.

The plugin distribution is made by the test (``*.dist-info`` on ``sys.path``; no pip, no
network). Runs go through the CLI on a tiny synthetic dataset, beside a built-in method.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from distributions import make_distribution

from fsar_bench.cli import main
from fsar_bench.data.synthetic import generate, preset
from fsar_bench.engine.presets import method_settings
from fsar_bench.errors import FsarError
from fsar_bench.methods import METHODS, MethodInfo, create_method
from fsar_bench.presentation.text import listing
from fsar_bench.results.summary import load_summaries

PLUGIN = '''
"""A method package outside fsar-bench (the shape docs/your-method.md describes)."""
from dataclasses import dataclass

import torch

from fsar_bench.methods import MethodInfo
from fsar_bench.methods.base import EpisodeOutput, FewShotMethod, class_mean

CREATED = []  # every config a MeanMatch was built with


@dataclass(frozen=True, kw_only=True)
class MeanConfig:
    temperature: float = 10.0
    width: int = 16


class MeanMatch(FewShotMethod):
    """Mean-pooled cosine matching.

    A test plugin.
    """

    input_kind = "pooled"
    config_class = MeanConfig

    def __init__(self, feature_dim, config=None):
        super().__init__()
        self.config = config or MeanConfig()
        CREATED.append(self.config)
        self.proj = torch.nn.Linear(feature_dim, self.config.width)

    def embed(self, videos):  # [V, T, D] -> {"x": [V, width]}
        return {"x": torch.nn.functional.normalize(self.proj(videos.mean(1)), dim=-1)}

    def compare(self, support, support_labels, query, n_way):
        scores = query["x"] @ support["x"].transpose(1, 2)  # [E, Q, S]
        logits = self.config.temperature * class_mean(scores, support_labels, n_way)
        return EpisodeOutput(logits=logits)


class NoConfigMatch(MeanMatch):
    """Frame-averaged matching without a config."""

    config_class = None

    def __init__(self, feature_dim):
        super().__init__(feature_dim, MeanConfig(temperature=5.0))


ENTRY = MethodInfo(name="meanentry", title="an entry", paper="", citation="",
                   factory="fsar_plug_m:MeanMatch", config="fsar_plug_m:MeanConfig",
                   input_kind="pooled")


def make_entry():
    return MethodInfo(name="meanmade", title="made", paper="", citation="",
                      factory="fsar_plug_m:MeanMatch", config="fsar_plug_m:MeanConfig",
                      input_kind="pooled")


class Spatialish(FewShotMethod):
    input_kind = "volumetric"


class NeedsValue(MeanMatch):
    @dataclass(frozen=True)
    class Cfg:
        required: int

    config_class = Cfg


class NotAMethod:
    pass
'''
POINTS = {
    "meanmatch": "fsar_plug_m:MeanMatch",
    "meanentry": "fsar_plug_m:ENTRY",
    "meanmade": "fsar_plug_m:make_entry",
    "nocfg": "fsar_plug_m:NoConfigMatch",
    "badkind": "fsar_plug_m:Spatialish",
    "needsvalue": "fsar_plug_m:NeedsValue",
    "notamethod": "fsar_plug_m:NotAMethod",
}
ORIGIN = "entry point fsar-plug-m 0.1 ({})"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The distribution ``fsar-plug-m`` on ``sys.path``; the registry forgets it afterwards."""
    folder = make_distribution(
        tmp_path / "site",
        "fsar-plug-m",
        {"fsar_bench.methods": POINTS},
        {"fsar_plug_m": PLUGIN, "fsar_plug_direct": PLUGIN},
    )
    monkeypatch.syspath_prepend(str(folder))
    importlib.invalidate_caches()
    METHODS.refresh()
    yield folder
    METHODS.refresh()
    for name in [m for m in sys.modules if m.startswith("fsar_plug")]:
        del sys.modules[name]


def test_listing_shows_the_origin_and_imports_no_plugin(plugin):
    out = listing("methods")
    row = next(line for line in out.splitlines() if line.startswith("meanmatch"))
    assert ORIGIN.format("fsar_plug_m:MeanMatch") in row
    assert "fsar_plug_m" not in sys.modules  # listing read the metadata only
    code = (
        "import sys; from fsar_bench.cli import main; main(['ls', 'methods']); "
        "print(sorted(m for m in ('torch', 'numpy', 'fsar_plug_m') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": f"{plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "meanmatch" in done.stdout and done.stdout.strip().endswith("[]")


def test_a_class_becomes_an_entry_with_its_metadata(plugin):
    info = METHODS.get("MeanMatch")
    assert isinstance(info, MethodInfo) and info.name == "meanmatch"
    assert info.title == "Mean-pooled cosine matching." and info.input_kind == "pooled"
    assert (info.factory, info.config) == ("fsar_plug_m:MeanMatch", "fsar_plug_m:MeanConfig")
    assert info.origin == METHODS.origin("meanmatch") == ORIGIN.format("fsar_plug_m:MeanMatch")
    config = method_settings(info, "quick", {"meanmatch": {"temperature": "2.5"}})
    model = create_method("meanmatch", 12, **vars(config))
    assert model.config.temperature == 2.5 and model.proj.in_features == 12
    # an entry or a function returning one: the entry, with the entry point's origin recorded
    assert METHODS.get("meanentry").origin == ORIGIN.format("fsar_plug_m:ENTRY")
    assert METHODS.get("meanmade").title == "made"


def test_a_method_without_config(plugin):
    info = METHODS.get("nocfg")
    config = method_settings(info, "quick", {})
    assert vars(config) == {} and create_method("nocfg", 8).config.temperature == 5.0
    with pytest.raises(FsarError, match="takes no config"):
        method_settings(info, "quick", {"nocfg": {"temperature": "1"}})
    with pytest.raises(FsarError, match="takes no config"):
        create_method("nocfg", 8, temperature=1.0)


@pytest.mark.parametrize(
    "name,message",
    [
        ("badkind", "input_kind must be one of pooled, spatial"),
        ("needsvalue", "needs a default"),
        ("notamethod", "not a subclass of fsar_bench.methods.base.FewShotMethod"),
    ],
)
def test_broken_plugins_are_one_line_errors(plugin, name, message):
    with pytest.raises(FsarError, match=message) as err:
        METHODS.get(name)
    assert f"{name!r}" in str(err.value) and "\n" not in str(err.value)


def test_an_import_path_never_shadows_another_method(plugin):
    # the entry point's class, named by its path, is that entry
    assert METHODS.get("fsar_plug_m:MeanMatch") is METHODS.get("meanmatch")
    # a class of the same name in another module would be called meanmatch too: refused
    with pytest.raises(FsarError, match="is the entry point fsar-plug-m 0.1 .*rename the class"):
        METHODS.get("fsar_plug_direct:MeanMatch")


def test_import_path_entries_are_found_by_their_name_afterwards(plugin):
    info = METHODS.get("fsar_plug_direct:NoConfigMatch")
    assert info.name == "noconfigmatch" and info.origin == (
        "import path fsar_plug_direct:NoConfigMatch"
    )
    assert METHODS.get("NoConfigMatch") is info and METHODS.origin("noconfigmatch") == info.origin
    assert METHODS.get("fsar_bench.methods.otam:OTAM") is METHODS.get("otam")  # built-in class
    with pytest.raises(FsarError, match="cannot be imported"):
        METHODS.get("fsar_plug_direct:Nope")


# --- end to end through the CLI --------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    generate(
        root / "data",
        preset(
            "mid",
            train_classes=4,
            val_classes=2,
            test_classes=2,
            videos_per_class=3,
            frames=8,
            size=64,
        ),
    )
    return root


def run(tiny: Path, runs: Path, *extra: str) -> int:
    args = [
        "run",
        "--shots",
        "1",
        "--way",
        "2",
        "--episodes",
        "8",
        "--size",
        "64",
        "--data-root",
        str(tiny / "data"),
        "--cache-dir",
        str(tiny / "cache"),
        "--runs-dir",
        str(runs),
        "--baseline",
        "otam",
        "--set",
        "train.episodes=4",
        "--set",
        "train.val_every=2",
        "--set",
        "train.val_episodes=4",
    ]
    return main([*args, *extra])


@pytest.mark.slow
def test_an_entry_point_plugin_runs_beside_otam(plugin, tiny, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--methods", "meanmatch,otam", "--set", "meanmatch.temperature=3.5"]
    assert run(tiny, runs, *args) == 0
    out = capsys.readouterr().out
    assert "meanmatch - otam" in out  # the paired row
    assert "not built in: meanmatch: " + ORIGIN.format("fsar_plug_m:MeanMatch") in out
    created = sys.modules["fsar_plug_m"].CREATED
    assert created and all(c.temperature == 3.5 for c in created)  # --set reached the model
    plug, otam = sorted(load_summaries(runs), key=lambda s: s.method != "meanmatch")
    assert (plug.method, otam.method) == ("meanmatch", "otam")
    assert plug.manifest == otam.manifest and plug.val_manifest == otam.val_manifest
    assert plug.method_config == {"temperature": 3.5, "width": 16}
    assert plug.method_factory == "fsar_plug_m:MeanMatch" and otam.method_origin == "built-in"
    assert len(plug.episode_accuracies()) == 8 and plug.best_val is not None
    assert (
        main(["report", "--runs", str(runs), "--out", str(tmp_path / "rep"), "--baseline", "otam"])
        == 0
    )
    page = (tmp_path / "rep" / "report.md").read_text()
    assert "| meanmatch - otam |" in page and "| meanmatch |" in page


@pytest.mark.slow
def test_an_import_path_runs_and_its_name_takes_sets(plugin, tiny, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--methods", "fsar_plug_direct:NoConfigMatch,otam", "--select", "last"]
    assert run(tiny, runs, *args) == 0
    assert "noconfigmatch - otam" in capsys.readouterr().out
    plug = next(s for s in load_summaries(runs) if s.method == "noconfigmatch")
    assert plug.method_origin == "import path fsar_plug_direct:NoConfigMatch"
    assert plug.select == {"mode": "last"} and plug.best_val is None and plug.val_manifest is None
    config = json.loads((Path(plug.dir) / "config.json").read_text())
    assert config["method_config"] == {} and config["select"] == {"mode": "last"}
    bad = ["--methods", "fsar_plug_direct:NoConfigMatch", "--set", "noconfigmatch.width=3"]
    assert run(tiny, runs, *bad) == 2
    assert "takes no config" in capsys.readouterr().err


# --- the example of docs/your-method.md runs as written ---------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "your-method.md"


@pytest.fixture
def doc_package(tmp_path, monkeypatch):
    """``my_fsar/methods.py`` = the first Python block of docs/your-method.md."""
    source = DOC.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    assert 25 <= len(source.strip().splitlines()) <= 45  # "about 30 lines"
    (tmp_path / "my_fsar").mkdir()
    (tmp_path / "my_fsar" / "__init__.py").write_text("")
    (tmp_path / "my_fsar" / "methods.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    METHODS.refresh()
    yield tmp_path
    METHODS.refresh()
    for name in [m for m in sys.modules if m.startswith("my_fsar")]:
        del sys.modules[name]


def test_the_documented_method_trains_on_an_episode(doc_package):
    import torch

    info = METHODS.get("my_fsar.methods:Tempo")
    assert (info.name, info.input_kind, info.title) == (
        "tempo",
        "pooled",
        "Tempo: frame-by-frame cosine matching of projected features.",
    )
    config = method_settings(info, "quick", {"tempo": {"hidden": "16"}})
    model = create_method("tempo", 12, **vars(config))
    sup, qry = torch.randn(2, 6, 4, 12), torch.randn(2, 9, 4, 12)  # E=2, 3-way 2-shot, T=4
    labels = torch.tensor([0, 0, 1, 1, 2, 2]).repeat(2, 1)
    out = model.episodes(sup, labels, qry, 3)
    assert out.logits.shape == (2, 9, 3) and model.proj.out_features == 16
    model.loss(out, torch.tensor([0, 1, 2] * 3).repeat(2, 1)).backward()
    assert model.proj.weight.grad is not None


@pytest.mark.slow
def test_the_documented_command_runs(doc_package, tiny, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["--methods", "my_fsar.methods:Tempo,otam", "--set", "tempo.hidden=128"]
    assert run(tiny, runs, *args) == 0
    assert "tempo - otam" in capsys.readouterr().out
    tempo = next(s for s in load_summaries(runs) if s.method == "tempo")
    assert tempo.method_config == {"hidden": 128, "scale": 10.0}
