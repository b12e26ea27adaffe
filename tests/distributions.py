"""An installed distribution made by a test: ``*.dist-info`` metadata with entry points and its
modules, in a folder the test puts on ``sys.path`` (no pip, no network)."""

from __future__ import annotations

from pathlib import Path


def make_distribution(
    folder: Path, dist: str, entry_points: dict[str, dict[str, str]], modules: dict[str, str]
) -> Path:
    """``dist`` 0.1 in ``folder``: ``entry_points`` is group -> name -> ``"module:attr"``,
    ``modules`` is module name -> source text."""
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"  # as wheels name it
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    text = ""
    for group, points in entry_points.items():
        text += f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    (info / "entry_points.txt").write_text(text)
    for module, source in modules.items():
        (folder / f"{module}.py").write_text(source)
    return folder
