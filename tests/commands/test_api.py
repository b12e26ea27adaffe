"""The Python API: ``docs/python-api.md``'s example runs as written, options are the command's,
``import fsar_bench`` stays cheap."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

import fsar_bench
from fsar_bench.api import build_groups
from fsar_bench.errors import FsarError

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def doc_blocks() -> list[str]:
    """The ```python blocks of the doc, in order."""
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.slow
def test_the_docs_example_runs_as_written(tmp_path, monkeypatch):
    """Every code block of docs/python-api.md, in one namespace, as a notebook runs them: the
    main module is the notebook's (no file), so the class defined there is ``__main__:...``."""
    monkeypatch.chdir(tmp_path)
    notebook = types.ModuleType("__main__")
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    blocks = doc_blocks()
    assert len(blocks) >= 6
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), notebook.__dict__)
    ns = notebook.__dict__
    results, runs, paired = ns["results"], ns["runs"], ns["paired"]
    assert len(results) == 4 and results.plan is not None
    assert results.plan.jobs == 1  # a method from __main__: one process
    assert set(runs["method"]) == {"protonet", "meancosine"} and len(runs) == 4
    assert set(paired["method"]) == {"meancosine"} and len(paired) == 2
    assert (paired["episodes"] == 24).all()
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    from matplotlib import pyplot as plt

    plt.close("all")  # the notebook's figure: a notebook keeps it, a test suite must not
    s = results.get("meancosine", 2)
    assert s.method_origin == "import path __main__:MeanCosine"
    # again: every cell is a finished run, nothing is trained
    import fsar_bench.engine.train as train

    monkeypatch.setattr(train.Trainer, "fit", lambda *a, **k: pytest.fail("trained again"))
    exec(compile(blocks[2], str(DOC), "exec"), notebook.__dict__)
    assert [c.finished for c in ns["results"].plan.cells] == [True] * 4


def test_the_docs_example_names_real_options_and_columns():
    """The fast check of the example: it compiles, every keyword it gives ``fsar_bench.run`` is
    an option, and every column it selects is one the API's frames have."""
    from fsar_bench.api import _fields
    from fsar_bench.report.frames import COMPARE_COLUMNS, RUN_COLUMNS

    blocks = doc_blocks()
    trees = [ast.parse(compile(b, str(DOC), "exec", ast.PyCF_ONLY_AST)) for b in blocks]
    calls = [
        n
        for t in trees
        for n in ast.walk(t)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "fsar_bench.run"
    ]
    assert calls and {k.arg for c in calls for k in c.keywords} <= set(_fields())
    selected = [
        (ast.unparse(n.value), ast.literal_eval(n.slice))
        for t in trees
        for n in ast.walk(t)
        if isinstance(n, ast.Subscript) and isinstance(n.slice, ast.List)
    ]
    columns = {"runs": set(RUN_COLUMNS), "paired": set(COMPARE_COLUMNS)}
    assert {name for name, _ in selected} == set(columns)
    assert all(set(cols) <= columns[name] for name, cols in selected)


def test_options_are_the_commands_by_field_name():
    groups = build_groups({"methods": "otam", "shots": [1, 5], "cache_dir": "c", "jobs": 2})
    assert groups["options"].methods == ("otam",) and groups["options"].shots == (1, 5)
    assert groups["options"].jobs == 2 and str(groups["data"].cache_dir) == "c"
    with pytest.raises(TypeError, match="did you mean 'shots'"):
        build_groups({"shot": 1})
    with pytest.raises(TypeError, match="valid options: .*runs_dir"):
        build_groups({"nonsense_option": 1})
    with pytest.raises(FsarError, match="registry name or a FewShotMethod"):
        build_groups({"methods": [3]})


def test_a_method_class_runs_by_its_import_path():
    from fsar_bench.methods.otam import OTAM

    groups = build_groups({"methods": [OTAM, "protonet"], "baseline": OTAM})
    assert groups["options"].methods == ("fsar_bench.methods.otam:OTAM", "protonet")
    from fsar_bench.options.common import ComputeOptions
    from fsar_bench.options.features import FeatureOptions

    req = groups["options"].run_request(ComputeOptions(device="cpu"), FeatureOptions())
    assert req.methods == ("otam", "protonet")


def test_the_command_and_the_api_share_one_path(monkeypatch, tmp_path):
    """``fsar-bench run`` calls :func:`fsar_bench.api.run_groups` with the groups it built,
    which are those the API builds from the same options."""
    import fsar_bench.api as api
    from fsar_bench.cli import main

    seen = []
    monkeypatch.setattr(api, "run_groups", lambda **g: seen.append(g) or _empty())
    args = ["run", "--methods", "otam", "--shots", "1,5", "--jobs", "2", "--dry-run"]
    assert main([*args, "--cache-dir", str(tmp_path)]) == 0
    want = build_groups(
        {"methods": "otam", "shots": "1,5", "jobs": 2, "dry_run": True, "cache_dir": tmp_path}
    )
    assert {k: seen[0][k] for k in want} == want


def _empty():
    return fsar_bench.Results(summaries=(), plan=None, baseline="protonet", runs_dir=Path("r"))


def test_import_is_cheap_and_the_api_loads_lazily():
    code = (
        "import sys, fsar_bench; fsar_bench.run; fsar_bench.load_runs; fsar_bench.compare; "
        "heavy = [m for m in ('torch', 'numpy', 'pandas') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(AttributeError):
        fsar_bench.no_such_function  # noqa: B018


def test_load_runs_of_a_missing_folder_is_one_line(tmp_path):
    with pytest.raises(FsarError, match="no results folder"):
        fsar_bench.load_runs(tmp_path / "nope")
    assert fsar_bench.load_runs(tmp_path).empty
