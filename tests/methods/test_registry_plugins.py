"""Registry entry points: an out-of-tree distribution registers a backbone (no pip, no network)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from fsar_bench.errors import FsarError
from fsar_bench.features import BACKBONES
from fsar_bench.presentation.text import listing

PLUGIN = """
from fsar_bench.features import BackboneInfo

INFO = BackboneInfo(
    name="{name}", title="a two-layer test CNN", factory="{module}:build", channels=5, stride=4,
    default_size=32, weights="random only",
)


def build(weights):
    import torch
    from torch import nn

    from fsar_bench.features.backbones import FrameEncoder

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 5, 3, 2, 1))
    return FrameEncoder(net, (0.5,) * 3, (0.25,) * 3, 5)
"""


def make_distribution(
    folder: Path, dist: str, points: dict[str, str], module: str = "", name: str = ""
) -> Path:
    """A distribution ``dist`` 0.1 in ``folder`` (``<dist>.dist-info`` with entry points of the
    group ``fsar_bench.backbones``), with the module ``module`` defining a backbone ``name``."""
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"  # as wheels name it
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{k} = {v}\n" for k, v in points.items())
    (info / "entry_points.txt").write_text(f"[fsar_bench.backbones]\n{lines}")
    if module:
        (folder / f"{module}.py").write_text(PLUGIN.format(name=name, module=module))
    return folder


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """Put ``tmp_path`` on ``sys.path``; the registry forgets what it found before and after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    BACKBONES.refresh()
    yield tmp_path
    BACKBONES.refresh()
    for name in [m for m in sys.modules if m.startswith("fsar_plug")]:
        del sys.modules[name]


def test_plugin_is_listed_without_importing_it_then_used(plugins):
    make_distribution(
        plugins, "fsar-plug-one", {"tiny-plug": "fsar_plug_one:INFO"}, "fsar_plug_one", "tiny-plug"
    )
    out = listing("backbones")
    row = next(line for line in out.splitlines() if line.startswith("tiny-plug"))
    assert "entry point fsar-plug-one 0.1 (fsar_plug_one:INFO)" in row
    assert "fsar_plug_one" not in sys.modules  # listing read metadata only
    assert "tiny-plug" in BACKBONES.names() and "fsar_plug_one" not in sys.modules
    assert BACKBONES.origin("Tiny-Plug") == "entry point fsar-plug-one 0.1 (fsar_plug_one:INFO)"

    import torch

    from fsar_bench.features.backbones import load_backbone, resolve_weights

    info = BACKBONES.get("tiny-plug")
    assert "fsar_plug_one" in sys.modules and (info.channels, info.stride) == (5, 4)
    model = load_backbone("tiny-plug", resolve_weights("tiny-plug", random_init=True))
    out = model(torch.full((2, 3, 32, 32), 128, dtype=torch.uint8))
    assert out.shape == (2, 5, 8, 8)
    net = model.trunk
    x = torch.full((1, 3, 32, 32), (128 - 127.5) / 63.75)  # the plugin's mean and std
    torch.testing.assert_close(out[:1], net(x))
    assert "5" in listing("backbones").split("tiny-plug")[1].splitlines()[0]  # loaded: channels


@contextmanager
def on_path(*folders: Path):
    """``folders`` on ``sys.path`` for the block; the registry discovers afresh."""
    sys.path[:0] = [str(f) for f in folders]
    importlib.invalidate_caches()
    BACKBONES.refresh()
    try:
        yield
    finally:
        for f in folders:
            sys.path.remove(str(f))
        BACKBONES.refresh()


def test_collision_with_a_built_in_is_one_line_naming_both(plugins):
    make_distribution(plugins / "a", "fsar-plug-a", {"ResNet50": "fsar_plug_a:INFO"})
    with on_path(plugins / "a"):
        assert BACKBONES.get("resnet50").factory.endswith(":resnet50")  # no discovery needed
        with pytest.raises(FsarError) as err:
            BACKBONES.names()
    message = str(err.value)
    assert "'resnet50' of the entry point fsar-plug-a 0.1 (fsar_plug_a:INFO)" in message
    assert "collides with the built-in backbone 'resnet50'" in message and "\n" not in message


def test_two_distributions_with_one_name_and_broken_values(plugins):
    make_distribution(plugins / "a", "fsar-plug-a", {"twin": "fsar_plug_a:INFO"})
    make_distribution(plugins / "b", "fsar-plug-b", {"twin": "fsar_plug_b:INFO"})
    make_distribution(
        plugins / "c",
        "fsar-plug-c",
        {"named-wrong": "fsar_plug_c:INFO", "no-module": "fsar_plug_missing:INFO"},
        "fsar_plug_c",
        "other-name",
    )
    with on_path(plugins / "a", plugins / "b"), pytest.raises(FsarError) as err:
        BACKBONES.get("twin")
    assert "fsar-plug-a 0.1" in str(err.value) and "fsar-plug-b 0.1" in str(err.value)
    with on_path(plugins / "c"):
        with pytest.raises(FsarError, match="must be 'named-wrong' \\(it is 'other-name'\\)"):
            BACKBONES.get("named-wrong")
        with pytest.raises(FsarError, match="fsar-plug-c 0.1 .* ModuleNotFoundError"):
            BACKBONES.get("no-module")
        with pytest.raises(FsarError, match="Did you mean named-wrong"):
            BACKBONES.get("named-wron")


def test_cli_ls_backbones_imports_neither_torch_nor_timm_nor_the_plugin(tmp_path):
    make_distribution(
        tmp_path, "fsar-plug-cli", {"cli-plug": "fsar_plug_cli:INFO"}, "fsar_plug_cli", "cli-plug"
    )
    code = (
        "import sys; from fsar_bench.cli import main; rc = main(['ls', 'backbones']); "
        "heavy = {'torch', 'numpy', 'timm', 'fsar_plug_cli'} & set(sys.modules); "
        "assert not heavy, heavy; sys.exit(rc)"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert "entry point fsar-plug-cli 0.1 (fsar_plug_cli:INFO)" in rows["cli-plug"]
    assert "built-in family (timm " in rows["timm:<model>"]
    assert rows["resnet50"].split()[1:4] == ["2048", "224", "built-in"]
