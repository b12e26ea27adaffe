"""The code's shape: no import cycle, layers that point one way, functions and modules within
their size limits, keyword-only dataclasses, no long positional calls of our own code.

Imports are read from the source (``ast``), every kind counted: module level, under
``TYPE_CHECKING`` and inside functions. The ``methods/`` and ``analysis/`` folders are mapped to
``fsar_bench.methods`` and ``fsar_bench.analysis``, as ``pyproject.toml`` installs them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "fsar_bench": ROOT / "fsar_bench",
    "fsar_bench.methods": ROOT / "methods",
    "fsar_bench.analysis": ROOT / "analysis",
}
MAX_FUNCTION = 50
MAX_MODULE = 300
SIZE_REASON = "Size:"  # a module over MAX_MODULE lines says why in its docstring


def modules() -> dict[str, Path]:
    """Module name -> file, for the installed package."""
    out = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if not (package == "fsar_bench" and rel.parts[0] in ("methods", "analysis")):
                out[name] = path
    return out


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (``from a import b`` counts ``a.b`` if a module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = _package(name, path).split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            targets = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names
            ]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``graph`` as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_imports_resolve_the_package_dir_mapping():
    mods = modules()
    assert "fsar_bench.methods.ta2n" in mods and "fsar_bench.analysis.probe.trained" in mods
    found = imports(
        "fsar_bench.analysis.probe.trained", mods["fsar_bench.analysis.probe.trained"], set(mods)
    )
    assert "fsar_bench.analysis.probe.train" in found and "fsar_bench.source" in found


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    mods = modules()
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def top_level(module: str) -> str:
    """The top-level package (or module) of ``fsar_bench`` a module belongs to."""
    return ".".join(module.split(".")[:2])


def two_way(graph: dict[str, set[str]]) -> list[str]:
    """Pairs of top-level packages that import each other, with one import each way."""
    edges: dict[tuple[str, str], tuple[str, str]] = {}
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            if top_level(a) != top_level(b):
                edges.setdefault((top_level(a), top_level(b)), (a, b))
    return [
        f"{p} <-> {q} ({' -> '.join(edges[p, q])}; {' -> '.join(edges[q, p])})"
        for p, q in sorted(edges)
        if p < q and (q, p) in edges
    ]


def test_two_way_finder_finds_a_planted_pair():
    graph = {"fsar_bench.data.a": {"fsar_bench.features.b"}, "fsar_bench.features.b": set()}
    assert two_way(graph) == []
    graph["fsar_bench.features.c"] = {"fsar_bench.data.d"}
    assert two_way(graph) == [
        "fsar_bench.data <-> fsar_bench.features (fsar_bench.data.a -> fsar_bench.features.b; "
        "fsar_bench.features.c -> fsar_bench.data.d)"
    ]


def test_layers_point_one_way():
    """No two top-level packages import each other (no module cycle is not enough)."""
    assert two_way(import_graph()) == []


def function_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, decorators and signature included, its docstring not counted."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    n = node.end_lineno - first + 1
    doc = node.body[0]
    if ast.get_docstring(node) is not None:
        n -= doc.end_lineno - doc.lineno + 1
    return n


def test_function_lines_count_decorators_not_docstrings():
    tree = ast.parse('@dec\ndef f(a):\n    """Doc.\n\n    More.\n    """\n    return a\n')
    assert function_lines(tree.body[0]) == 3


def test_functions_and_modules_within_size_limits():
    long_functions, long_modules = [], []
    for name, path in modules().items():
        text = path.read_text()
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                n = function_lines(node)
                if n > MAX_FUNCTION:
                    long_functions.append(f"{name}.{node.name}: {n} lines")
        lines = len(text.splitlines())
        if lines > MAX_MODULE and SIZE_REASON not in (ast.get_docstring(tree) or ""):
            long_modules.append(f"{name}: {lines} lines")
    assert not long_functions, long_functions
    assert not long_modules, f"{long_modules}: split them or state a '{SIZE_REASON}' reason"


def test_every_package_says_what_lives_there():
    for name, path in modules().items():
        if path.name == "__init__.py":
            assert ast.get_docstring(ast.parse(path.read_text())), f"{name} has no docstring"


def _decorator_name(node: ast.expr) -> str:
    f = node.func if isinstance(node, ast.Call) else node
    return f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")


def positional_dataclasses(tree: ast.Module) -> list[str]:
    """Public dataclasses of a module that are not ``kw_only=True``."""
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
            continue
        for d in node.decorator_list:
            if _decorator_name(d) != "dataclass":
                continue
            kw = {k.arg: k.value for k in d.keywords} if isinstance(d, ast.Call) else {}
            if not (isinstance(kw.get("kw_only"), ast.Constant) and kw["kw_only"].value is True):
                out.append(node.name)
    return out


def test_dataclass_finder_finds_a_planted_positional_one():
    src = (
        "@dataclass(frozen=True)\nclass A:\n x: int\n@dataclass(kw_only=True)\nclass B:\n y: int\n"
    )
    assert positional_dataclasses(
        ast.parse(src + "@dataclasses.dataclass\nclass C:\n z: int\n")
    ) == [
        "A",
        "C",
    ]


def test_public_dataclasses_are_keyword_only():
    """A field added or moved can never shift a positional argument (the dropped --preset)."""
    found = [
        f"{name}.{cls}"
        for name, path in modules().items()
        for cls in positional_dataclasses(ast.parse(path.read_text()))
    ]
    assert not found, f"not @dataclass(kw_only=True): {found}"


MAX_POSITIONAL = 5  # a call of our own code passes at most this many arguments by position


def _project_names(tree: ast.Module, known: set[str], in_package: bool) -> tuple[set, set, set]:
    """Callables of the project a module can name: ``(names, module aliases, method names)``.

    Names defined in the module (package modules only) or imported from the project; aliases of
    imported project modules (``ck.save_checkpoint``); methods of the module's classes, called
    on any object (``job.block``).
    """
    names, aliases, methods = set(), set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (
            node.level or node.module.startswith("fsar_bench")
        ):
            for a in node.names:
                full = f"{node.module}.{a.name}"
                (aliases if full in known else names).add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            aliases.update(
                a.asname or a.name for a in node.names if a.name.startswith("fsar_bench")
            )
        elif in_package and isinstance(node, ast.ClassDef):
            methods.update(b.name for b in node.body if isinstance(b, ast.FunctionDef))
    if in_package:
        names.update(n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef))
    return names, aliases, methods


def long_positional_calls(tree: ast.Module, known: set[str], in_package: bool = True) -> list:
    """``(line, callee, positional count)`` of calls of project code with too many positional
    arguments (calls of libraries, e.g. ``nn.Sequential`` or ``min``, are not counted)."""
    names, aliases, methods = _project_names(tree, known, in_package)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or len(node.args) <= MAX_POSITIONAL:
            continue
        f = node.func
        ours = (isinstance(f, ast.Name) and f.id in names) or (
            isinstance(f, ast.Attribute)
            and isinstance(f.value, ast.Name)
            and (f.value.id in aliases or f.attr in methods)
        )
        if ours:
            out.append((node.lineno, ast.unparse(f), len(node.args)))
    return out


def test_long_call_finder_finds_a_planted_call():
    src = (
        "import torch.nn as nn\nfrom fsar_bench.engine import checkpoint as ck\n"
        "from fsar_bench.x import point\n"
        "def f(a, b, c, d, e, g): ...\n"
        "f(1, 2, 3, 4, 5, 6)\nf(1, 2, 3, 4, 5, g=6)\npoint(*range(9))\n"
        "ck.save(1, 2, 3, 4, 5, 6)\nnn.Sequential(1, 2, 3, 4, 5, 6)\nmin(1, 2, 3, 4, 5, 6)\n"
    )
    known = {"fsar_bench.engine.checkpoint"}
    found = long_positional_calls(ast.parse(src), known)
    assert found == [(5, "f", 6), (8, "ck.save", 6)]
    assert long_positional_calls(ast.parse(src), known, in_package=False) == [(8, "ck.save", 6)]


def test_no_long_positional_calls_of_our_own_code():
    """Six or more positional arguments to our own functions or classes: pass keywords or an
    object (the package, the tests and the benchmarks)."""
    mods = modules()
    files = {name: (path, True) for name, path in mods.items()}
    files |= {str(p): (p, False) for d in ("tests", "benchmarks") for p in (ROOT / d).glob("*.py")}
    found = [
        f"{path.relative_to(ROOT)}:{line}: {callee} with {n} positional arguments"
        for path, in_package in files.values()
        for line, callee, n in long_positional_calls(
            ast.parse(path.read_text()), set(mods), in_package
        )
    ]
    assert not found, found


RUN_LOG = re.compile(
    r"\bstop \d+\b|\bfresh clone\b|\b20\d\d-\d\d-\d\d\b|\b\d+:\d\d wall\b"
    r"|[Mm]easured\b[^\n]*?\d(?:\.\d+)? ?%",
)  # a run's log: a stop's number, the clone it ran on, a date, a wall time, a measured share


def run_log_lines(text: str, docstrings: bool = True) -> list[str]:
    """Lines of a module that read like a run's log (``docstrings=False``: outside docstrings)."""
    lines = text.splitlines()
    if not docstrings:
        kinds = ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, kinds) and ast.get_docstring(node, clean=False):
                body = node.body
                for k in range(body[0].lineno - 1, body[0].end_lineno):
                    lines[k] = ""
    return [f"{k + 1}: {line.strip()}" for k, line in enumerate(lines) if RUN_LOG.search(line)]


def test_run_log_finder_finds_planted_lines():
    log = "fresh " + "clone, st" + "op 22"  # (split, so this file holds no run log itself)
    note = "x = 1  # measured 43.2 " + "% on 2026" + "-11-29"
    text = f'"""Docs.\n\n{log}\n"""\n{note}\n'
    assert run_log_lines(text) == [f"3: {log}", f"5: {note}"]
    assert run_log_lines(text, docstrings=False) == [f"5: {note}"]
    assert run_log_lines("stops 2 runs; a stop is 5 frames; 95% interval\n") == []


def test_no_run_logs_in_code():
    """Measurements, dates and machine runs belong in docs/ (the code links there)."""
    files = [(p, True) for p in modules().values()]
    files += [(p, True) for p in (ROOT / "benchmarks").glob("*.py")]
    files += [(p, False) for p in (ROOT / "tests").rglob("*.py")]  # test docstrings may say how
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path, whole in files
        for line in run_log_lines(path.read_text(), docstrings=whole)
    ]
    assert not found, found


def test_tests_mirror_the_source_and_share_helpers_through_modules():
    """Test modules live in ``tests/<package>/`` (or ``tests/`` for the whole-repo checks) and
    never import one another; shared helpers are in ``conftest.py``, ``toys.py`` and
    ``distributions.py``."""
    tests = ROOT / "tests"
    packages = {p.name for p in (ROOT / "fsar_bench").iterdir() if (p / "__init__.py").exists()}
    packages |= {"analysis", "methods", "faults"}
    misplaced, cross = [], []
    for path in tests.rglob("test_*.py"):
        folder = path.parent.relative_to(tests).parts
        if folder and folder[0] not in packages:
            misplaced.append(str(path.relative_to(ROOT)))
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            cross += [
                f"{path.relative_to(ROOT)} imports {n}" for n in names if n.startswith("test_")
            ]
    assert not misplaced and not cross, misplaced + cross
