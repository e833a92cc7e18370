"""The package layout rules of docs/architecture.md, read from the import graph.

Every module under ``scnmf/`` is parsed with ``ast`` (nothing is imported). Module-level
imports (including those under ``if TYPE_CHECKING`` or ``try``) form the graph that must
have no cycles, and imports inside functions must not close one either. Both count for the
layer rules: ``pl`` never imports ``tl``, ``tl`` never a torch/dask module, ``_core``
never anndata/scanpy/matplotlib. No file is over 420 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scnmf"
MAX_LINES = 420
BACKEND_MODULES = ("scnmf._core._backends.torch", "scnmf._core._backends.dask")
FORBIDDEN_IN_TL = ("torch", "dask", "distributed", *BACKEND_MODULES)
FORBIDDEN_IN_CORE = ("anndata", "scanpy", "matplotlib")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    """Absolute name of the module a ``from … import`` reads from."""
    if node.level == 0:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _imports(module: str) -> list[tuple[str, bool]]:
    """``(imported name, at module level)`` for every import in ``module``.

    ``from pkg import name`` imports ``pkg.name`` when that is a module (``pkg`` then only
    has to exist), else it reads ``name`` from ``pkg``.
    """
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = set()
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            lazy.update(id(n) for n in ast.walk(fn) if n is not fn)
    found = []
    for node in ast.walk(tree):
        top = id(node) not in lazy
        if isinstance(node, ast.Import):
            found += [(alias.name, top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, path, node)
            for alias in node.names:
                name = f"{source}.{alias.name}"
                found.append((name if name in MODULES else source, top))
    return found


def _internal(name: str) -> str | None:
    """The scnmf module ``name`` loads (its longest known prefix), or None if external."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _graph(lazy: bool = False) -> dict[str, set[str]]:
    """Intra-package import edges: module-level ones, and with ``lazy`` those in functions.

    Importing ``a.b.c`` first runs the ``__init__`` of ``a`` and ``a.b``: an edge to each
    that is not already an ancestor of the importer (those are initialised before it).
    """
    edges: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        mine = set(_ancestors(module))
        for name, top in _imports(module):
            target = _internal(name)
            if not (top or lazy) or target is None or target == module:
                continue
            edges[module].add(target)
            edges[module].update(a for a in _ancestors(target) if a not in mine)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def _violations(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for module in MODULES:
        if module != prefix and not module.startswith(prefix + "."):
            continue
        for name, _ in _imports(module):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                out.append(f"{module} imports {name}")
    return sorted(set(out))


def test_graph_is_read():
    edges = _graph()
    assert "scnmf.tl._nmf" in edges and "scnmf._keys" in edges["scnmf.tl._nmf"]


def test_no_import_cycles():
    assert _cycles(_graph()) == []


def test_no_cycle_hidden_behind_imports_in_functions():
    # e.g. cli ↔ _demo, each importing the other inside a function, was one
    assert _cycles(_graph(lazy=True)) == []


def test_pl_never_imports_tl():
    assert _violations("scnmf.pl", ("scnmf.tl",)) == []


def test_tl_never_imports_a_backend_module():
    assert _violations("scnmf.tl", FORBIDDEN_IN_TL) == []


def test_core_never_imports_anndata_scanpy_or_matplotlib():
    assert _violations("scnmf._core", FORBIDDEN_IN_CORE) == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_file_is_too_long(module):
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{MODULES[module]} has {lines} lines"
