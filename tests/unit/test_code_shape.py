"""The shape of the code (issue 20): no import cycle inside the package, and
no function longer than a screen or so, read from the source with ast (no
module is imported, nothing is run)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
PACKAGE = SRC / "subliminal"
MAX_LINES = 80
#: Third-party modules a light job (the collectors, the analysis) must not load.
HEAVY = ("torch", "transformers", "peft", "trl", "safetensors", "matplotlib")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, top_only: bool) -> set[str]:
    """The package modules ``name`` imports: at module level (``top_only``;
    under an ``if`` or ``try`` too), else anywhere, inside functions too."""
    modules = _modules()
    tree = ast.parse(path.read_text())
    if top_only:
        nodes, stack = [], list(tree.body)
        while stack:
            node = stack.pop()
            nodes.append(node)
            if isinstance(node, (ast.If, ast.Try)):
                stack += node.body + node.orelse + getattr(node, "finalbody", [])
                stack += [s for h in getattr(node, "handlers", []) for s in h.body]
    else:
        nodes = list(ast.walk(tree))
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            for a in node.names:  # `from . import x`: the module x
                out.add(f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module)
    return {m for m in out if m in modules and m != name}


def _third_party(path: Path) -> set[str]:
    """The top-level names of what ``path`` imports at module level."""
    out = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module.split(".")[0])
    return out


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (a path that comes back to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_at_module_level():
    graph = {name: _imports(name, path, top_only=True) for name, path in _modules().items()}
    assert _cycle(graph) is None


def test_no_import_cycle_even_through_imports_inside_functions():
    """A deferred import may only keep a heavy module out of a light job; it
    must not be what hides a cycle."""
    graph = {name: _imports(name, path, top_only=False) for name, path in _modules().items()}
    assert _cycle(graph) is None


def _heavy_modules() -> set[str]:
    """The package modules that load torch, transformers or matplotlib when
    imported (themselves or through the package modules they import at the top)."""
    modules = _modules()
    top = {name: _imports(name, path, top_only=True) for name, path in modules.items()}
    heavy = {name for name, path in modules.items() if _third_party(path) & set(HEAVY)}
    while grown := {n for n in modules if n not in heavy and top[n] & heavy}:
        heavy |= grown
    return heavy


def test_imports_inside_functions_are_only_of_heavy_modules():
    """The package's own imports sit at the top of each file, except those
    that would make a light module load torch, transformers or matplotlib."""
    heavy = _heavy_modules()
    assert {"subliminal.models", "subliminal.train", "subliminal.generation", "subliminal.plots"} <= heavy
    assert not {"subliminal.grid", "subliminal.tables", "subliminal.stats", "subliminal.analysis"} & heavy
    deferred = {
        (name, m)
        for name, path in _modules().items()
        for m in _imports(name, path, top_only=False) - _imports(name, path, top_only=True)
    }
    assert {(name, m) for name, m in deferred if m not in heavy} == set()


def test_the_analysis_imports_no_torch():
    code = f"import sys, subliminal.analysis; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": str(SRC)}, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_no_function_over_80_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1  # decorators not counted, docstring counted
                if n > MAX_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert long == []


def test_the_package_reads_its_schema_from_itself_not_the_workflow():
    """The package validates a config with the schema it ships (an installed
    package has no workflow/ beside it)."""
    from subliminal import config

    assert config.SCHEMA_PATH.parent == PACKAGE and config.SCHEMA_PATH.is_file()
    for path in PACKAGE.rglob("*.py"):
        assert '"workflow"' not in path.read_text(), f"{path} reaches into the workflow's folders"
