"""The rooms of `lwnode` and the one direction imports run between them.

`lwnode/__init__.py` draws the order; this test holds the code to it: a module may
import from its own room or from rooms below, never above, and no set of `lwnode`
modules imports itself round (imports under ``if TYPE_CHECKING:`` included: a cycle
of types is still a cycle a reader must untangle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LWNODE = Path(__file__).resolve().parents[2] / "lwnode"

ROOMS = ("__main__", "cli", "demo", "daemon", "http", "userside", "federation", "node",
         "home", ("config", "client"), ("ratelog", "errors"))
"""Top to bottom; rooms grouped in a tuple share a level and must not import each other."""

LEVEL = {room: len(ROOMS) - i for i, level in enumerate(ROOMS)
         for room in (level if isinstance(level, tuple) else (level,))}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports_of(path: Path, module: str, known: set[str]) -> set[str]:
    """The `lwnode` modules `path` imports, wherever the import statement sits."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        # `from lwnode.node import service` names the module; `from lwnode.node.service
        # import X` names the module too (X is not one).
        found.update(n for n in names if n in known and n != module)
    return found


def import_graph(root: Path = LWNODE) -> dict[str, set[str]]:
    paths = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(paths)
    return {module: imports_of(path, module, known) for module, path in paths.items()}


def wrong_way(graph: dict[str, set[str]]) -> list[str]:
    """Every import that runs up, or sideways between two rooms of one level."""
    bad = []
    for module, targets in graph.items():
        room = room_of(module)
        for target in sorted(targets):
            other = room_of(target)
            if room is None or other is None or room == other:
                continue  # the package itself, or inside one room
            if LEVEL[other] >= LEVEL[room]:
                bad.append(f"{module} -> {target}")
    return bad


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_sits_in_a_known_room() -> None:
    rooms = {room_of(m) for m in import_graph()} - {None}
    assert rooms <= set(LEVEL), rooms - set(LEVEL)


def test_imports_run_only_downwards() -> None:
    assert wrong_way(import_graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


@pytest.mark.parametrize(("module", "source", "bad"), [
    # the node core reaching up into HTTP
    ("node/service.py", "from lwnode.http import jsonio\n",
     "lwnode.node.service -> lwnode.http.jsonio"),
    # federation importing the user's side, in the relative form
    ("federation/intake.py", "from ..userside.local import make_spec\n",
     "lwnode.federation.intake -> lwnode.userside.local"),
    # sideways on one level, inside a function
    ("config.py", "def f():\n    import lwnode.client\n", "lwnode.config -> lwnode.client"),
])
def test_an_arrow_the_wrong_way_is_caught(tmp_path: Path, module: str, source: str,
                                          bad: str) -> None:
    copy = tmp_path / "lwnode"
    for path in LWNODE.rglob("*.py"):
        target = copy / path.relative_to(LWNODE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    edited = copy / module
    edited.write_text(edited.read_text(encoding="utf-8") + "\n" + source, encoding="utf-8")
    assert bad in wrong_way(import_graph(copy))


def test_a_cycle_is_caught() -> None:
    graph = import_graph()
    graph["lwnode.node.catalog"] = graph["lwnode.node.catalog"] | {"lwnode.node.service"}
    found = cycles(graph)
    assert len(found) == 1 and {"lwnode.node.catalog", "lwnode.node.service"} <= set(found[0])
