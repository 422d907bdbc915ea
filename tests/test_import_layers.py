"""Imports run downward only (ARCHITECTURE.md), and no two modules import each other.

Every `import` of the package is read with `ast`, inside functions too (a lazy import is still a
dependency), and resolved to a module of the tree. Two rules fail the suite:
- a layer imports only layers below it: registry/atomic/version -> data, metrics -> models, parts ->
  reporting, deploy -> analysis -> callbacks -> run -> the entry points; packages on one layer do not import
  each other; nothing imports the `reid_lightning` package itself (its `__init__` is the public facade);
- no import cycle between modules (a package `__init__` counts as the module of its package).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reid_lightning"
LAYERS = {  # top-level module or package -> layer; a module may import its own package or a lower layer
    "registry": 0,
    "atomic": 0,
    "version": 0,
    "data": 1,
    "metrics": 1,
    "models": 2,
    "parts": 2,
    "reporting": 3,
    "deploy": 3,
    "analysis": 4,  # measured cost runs the exported model (deploy)
    "callbacks": 5,
    "run": 6,
}
ENTRY_POINTS = ("train.py", "eval.py")  # thin: they may import the run package only


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(path: Path) -> set[str]:
    """The suite's modules that `path` imports anywhere in it (from-imports of a submodule resolve to it)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "reid_lightning"}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("reid_lightning"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in MODULES else node.module)
    return found


def layer_of(module: str) -> tuple[str, int]:
    top = module.split(".")[1]
    assert top in LAYERS, f"{module}: add its package {top!r} to LAYERS in {__file__} (and to ARCHITECTURE's plan)"
    return top, LAYERS[top]


def layer_violations(module: str, imported: set[str]) -> list[str]:
    if module == "reid_lightning":
        return []  # the facade (lazy re-exports) sits above everything
    own, own_layer = layer_of(module)
    problems = []
    for target in sorted(imported):
        if target == "reid_lightning":
            problems.append(f"{module} imports the reid_lightning facade; import the module that defines the name")
            continue
        top, layer = layer_of(target)
        if top != own and layer >= own_layer:
            problems.append(f"{module} (layer {own_layer}, {own}) imports {target} (layer {layer}, {top})")
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


GRAPH = {module: imports_of(path) - {module} for module, path in MODULES.items()}


def test_imports_run_downward_only():
    problems = [p for module, imported in GRAPH.items() for p in layer_violations(module, imported)]
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_no_two_modules_import_each_other():
    assert not cycles(GRAPH), f"import cycles: {cycles(GRAPH)}"


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_entry_points_are_thin(entry):
    imported = imports_of(ROOT / entry)
    assert imported and all(m.startswith("reid_lightning.run") for m in imported), imported


def test_the_checks_catch_what_they_guard():
    """Hand-made graphs: a loop and an upward or sideways import are found, a downward one is not."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer_violations("reid_lightning.data.dataset", {"reid_lightning.run.train"})
    assert layer_violations("reid_lightning.models.module", {"reid_lightning.callbacks.progress"})
    assert layer_violations("reid_lightning.data.dataset", {"reid_lightning.metrics.names"})  # same layer
    assert layer_violations("reid_lightning.deploy.export", {"reid_lightning"})
    assert not layer_violations("reid_lightning.run.train", {"reid_lightning.data.dataset", "reid_lightning.run.build"})
