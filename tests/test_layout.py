"""The package layout's doors, checked on the source with ``ast``.

* Only ``oe_opt/network/`` talks to OpenDSS: no ``import dss`` / ``from dss``
  elsewhere (at any depth), no attribute access ``.circuit``, ``.Yprim``,
  ``.PDElements``, ``.ActiveCktElement`` elsewhere, and no private attribute
  (``._name``) of an object called ``net`` (``net._x``, ``self.net._x``).
* The intra-package import graph has no cycles.  An edge goes from a module
  to every ``oe_opt`` module it imports (``from oe_opt.a import b`` is an edge
  to ``oe_opt.a.b`` when that is a module, else to ``oe_opt.a``).  Checked
  twice: with the module-level imports only, and with the imports inside
  functions too (a lazy import must not hide a cycle; lazy imports that only
  save start-up time, as in the CLI commands, are fine).  Imports under
  ``if TYPE_CHECKING:`` (annotations only) are not edges, and importing
  ``oe_opt.a.b`` is not an edge to the package ``oe_opt.a`` (its
  ``__init__`` runs first, but a package that imports its own modules would
  otherwise always be a cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "oe_opt"
NETWORK_ROOM = "oe_opt.network"
ENGINE_ATTRIBUTES = {"circuit", "Yprim", "PDElements", "ActiveCktElement"}


def package_sources(root: Path = PACKAGE) -> tuple[dict[str, str], set[str]]:
    """Source of every module under `root` by dotted name, and the names that are packages."""
    sources, packages = {}, set()
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
            packages.add(".".join(parts))
        sources[".".join(parts)] = path.read_text()
    return sources, packages


def _in_room(module: str, room: str) -> bool:
    return module == room or module.startswith(room + ".")


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module name of a ``from ... import`` (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_net(expr: ast.expr) -> bool:
    """``net`` or ``<anything>.net``."""
    return (isinstance(expr, ast.Name) and expr.id == "net") or \
        (isinstance(expr, ast.Attribute) and expr.attr == "net")


def door_violations(sources: dict[str, str]) -> list[str]:
    """``module:line: what`` for every use of the engine outside the network room."""
    out = []
    for module, text in sources.items():
        if _in_room(module, NETWORK_ROOM):
            continue
        for node in ast.walk(ast.parse(text, module)):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "dss" or alias.name.startswith("dss."):
                        out.append(f"{module}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module and \
                    (node.module == "dss" or node.module.startswith("dss.")):
                out.append(f"{module}:{node.lineno}: from {node.module} import")
            elif isinstance(node, ast.Attribute):
                if node.attr in ENGINE_ATTRIBUTES:
                    out.append(f"{module}:{node.lineno}: .{node.attr}")
                elif node.attr.startswith("_") and not node.attr.startswith("__") and \
                        _is_net(node.value):
                    out.append(f"{module}:{node.lineno}: private network attribute .{node.attr}")
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(body: list[ast.stmt], lazy: bool):
    """Import statements run when the module is imported (with `lazy`, also those inside
    functions and classes), not those under ``if TYPE_CHECKING:``."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _imports(node.body, lazy)
            yield from _imports(node.orelse, lazy)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _imports(block, lazy)
        elif isinstance(node, (ast.With, ast.For, ast.While)):
            yield from _imports(node.body, lazy)
        elif lazy and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield from _imports(node.body, lazy)


def import_graph(sources: dict[str, str], packages: set[str],
                 lazy: bool = False) -> dict[str, set[str]]:
    """Module -> the package modules it imports at module level (with `lazy`, anywhere)."""
    graph = {}
    for module, text in sources.items():
        edges = set()
        for node in _imports(ast.parse(text, module).body, lazy):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = _absolute(module, module in packages, node)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in sources else base
                           for a in node.names]
            edges.update(t for t in targets if t in sources and t != module)
        graph[module] = edges
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


# ------------------------------------------------------------------ the package
def test_nothing_outside_the_network_room_talks_to_the_engine():
    sources, _ = package_sources()
    assert "oe_opt.model.sensitivity" in sources and "oe_opt.network.opendss" in sources
    assert door_violations(sources) == []


def test_the_package_import_graph_has_no_cycles():
    sources, packages = package_sources()
    graph = import_graph(sources, packages)
    # the graph is real: the case builder reads the network time series, the engine writes them
    assert "oe_opt.inputs.timeseries" in graph["oe_opt.inputs.case"]
    assert "oe_opt.inputs.timeseries" in graph["oe_opt.network.opendss_loadshapes"]
    assert import_cycles(graph) == []


def test_no_lazy_import_hides_a_cycle():
    sources, packages = package_sources()
    assert import_cycles(import_graph(sources, packages, lazy=True)) == []


# ------------------------------------------------------------- the checker itself
SYNTHETIC = {
    "oe_opt": "",
    "oe_opt.network": "",
    "oe_opt.network.engine": "import dss\nfrom dss import DSS\n\ndef f(net):\n    return net.circuit, net._x\n",
    "oe_opt.model": "",
    "oe_opt.model.sens": (
        "from oe_opt.network.engine import f\n"
        "def g(net):\n"
        "    import dss\n"                          # function-level: still a violation
        "    y = net.circuit.ActiveCktElement.Yprim\n"
        "    return net._line_gather, self.net._tx, net.__dict__, other._private\n"),
    "oe_opt.model.a": "from . import b\nfrom oe_opt.model.c import thing\n",
    "oe_opt.model.b": "import oe_opt.model.a\n",
    "oe_opt.model.c": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from oe_opt.model.a import x\n"  # annotation only: no edge
        "def h():\n    from oe_opt.model import a\n"                # function-level: no edge
        "from dss.enums import X\n"),
}


def test_the_checker_catches_engine_access_outside_the_network_room():
    found = door_violations(SYNTHETIC)
    assert all(not v.startswith("oe_opt.network") for v in found)  # the room itself may
    sens = sorted(v.split(": ", 1)[1] for v in found if v.startswith("oe_opt.model.sens:"))
    assert sens == [".ActiveCktElement", ".Yprim", ".circuit", "import dss",
                    "private network attribute ._line_gather",
                    "private network attribute ._tx"]
    assert any(v.startswith("oe_opt.model.c:6: from dss.enums") for v in found)


def test_the_checker_catches_an_import_cycle():
    packages = {"oe_opt", "oe_opt.network", "oe_opt.model"}
    graph = import_graph(SYNTHETIC, packages)
    assert graph["oe_opt.model.a"] == {"oe_opt.model.b", "oe_opt.model.c"}
    assert graph["oe_opt.model.c"] == set()
    assert import_cycles(graph) == [["oe_opt.model.a", "oe_opt.model.b"]]
    # breaking the back edge removes the cycle
    fixed = dict(SYNTHETIC, **{"oe_opt.model.b": "x = 1\n"})
    assert import_cycles(import_graph(fixed, packages)) == []


def test_the_lazy_graph_catches_a_cycle_hidden_in_functions():
    """The old ``case`` <-> ``loadshapes`` pattern: each imports the other inside a function."""
    packages = {"oe_opt", "oe_opt.inputs"}
    sources = {"oe_opt": "", "oe_opt.inputs": "",
               "oe_opt.inputs.case": "def build():\n    from oe_opt.inputs.timeseries import read\n",
               "oe_opt.inputs.timeseries": "def read():\n    from oe_opt.inputs.case import DayCase\n"}
    assert import_cycles(import_graph(sources, packages)) == []
    assert import_cycles(import_graph(sources, packages, lazy=True)) == [
        ["oe_opt.inputs.case", "oe_opt.inputs.timeseries"]]
    # annotation-only imports stay out of both graphs
    assert import_graph(SYNTHETIC, {"oe_opt", "oe_opt.network", "oe_opt.model"},
                        lazy=True)["oe_opt.model.c"] == {"oe_opt.model.a"}  # h()'s import only


@pytest.mark.parametrize("text, target", [
    ("from .engine import f\n", "oe_opt.network.engine"),
    ("from . import engine\n", "oe_opt.network.engine"),
    ("from .. import model\n", "oe_opt.model"),
])
def test_relative_imports_resolve(text, target):
    sources = dict(SYNTHETIC, **{"oe_opt.network.other": text})
    graph = import_graph(sources, {"oe_opt", "oe_opt.network", "oe_opt.model"})
    assert graph["oe_opt.network.other"] == {target}
