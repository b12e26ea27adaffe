"""The code's shape: no import cycle, functions and modules within their size limits.

Imports are read from the source (``ast``), every kind counted: module level, under
``TYPE_CHECKING`` and inside functions. The ``methods/`` and ``analysis/`` folders are mapped to
``fsar_bench.methods`` and ``fsar_bench.analysis``, as ``pyproject.toml`` installs them.
"""

from __future__ import annotations

import ast
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
    assert "fsar_bench.methods.ta2n" in mods and "fsar_bench.analysis.probe" in mods
    found = imports("fsar_bench.analysis.probe", mods["fsar_bench.analysis.probe"], set(mods))
    assert "fsar_bench.analysis.probe_train" in found and "fsar_bench.data.source" in found


def test_no_import_cycle():
    mods = modules()
    graph = {name: imports(name, path, set(mods)) for name, path in mods.items()}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


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
