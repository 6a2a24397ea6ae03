"""The layers, read from the source: pipelines/ below components/, no import cycle anywhere.

pipelines/ does the work and imports no gradio (and nothing of components/); components/ draws the page
and imports no torch, transformers or accelerate (it asks pipelines/ for plain data). Every import
statement counts, also one inside a function: a lazy import is still a dependency. The graph is built
with ast from the files themselves, so a rule fails before any code runs.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The app's own code: the top-level modules (app.py, catalogue.py) and packages (both layers, bench/, and any
# package added later), not the tests.
SOURCES = sorted(p.name for p in ROOT.iterdir() if (p.suffix == ".py" or (p / "__init__.py").is_file())
                 and p.name != "tests")

UI_ONLY = {"gradio", "components"}  # what nothing under pipelines/ may import
MODEL_ONLY = {"torch", "torchvision", "transformers", "accelerate"}  # what nothing under components/ may import

# Known exceptions, each to be emptied, never added to. Modules of components/ still allowed torch or
# transformers: none (components/explain.py was, until the attention pass moved into pipelines/explain.py).
COMPONENTS_ALLOWED_MODEL_IMPORTS: set[str] = set()
# Known import cycles (each the set of modules that import each other around a loop), to be emptied: none
# (the last, around components/server.py, went with the chat bounds and client_of moving to resources.py).
KNOWN_CYCLES: list[set[str]] = []


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the app."""
    files = {}
    for source in SOURCES:
        path = ROOT / source
        for file in [path] if path.is_file() else sorted(path.rglob("*.py")):
            parts = list(file.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = file
    return files


def imports_of(name: str, file: Path, modules: set[str]) -> set[str]:
    """Every name `file` imports, at any depth of its code: project modules as dotted names (a `from p import x`
    gives p.x where that is a module), anything else by its top-level package name."""
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    resolved = set()
    for target in found:
        while target not in modules and "." in target:  # `import a.b.c` of a project module, or a name in it
            target = target.rpartition(".")[0]
        resolved.add(target if target in modules else target.split(".")[0])
    return resolved


def graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, file, set(files)) for name, file in files.items()}


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan), and modules importing themselves."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue  # outside the project
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_imports_inside_functions():
    """The rules below would be blind without it: torch, gradio and the cycles were imported lazily."""
    edges = graph()
    assert {"app", "catalogue", "components.status", "pipelines.tasks.base", "bench.run"} <= edges.keys()
    assert "torch" in edges["pipelines.device"]  # only inside functions there
    assert "pipelines.registry" in edges["pipelines.device"]  # a relative import inside a function
    assert "components.language" in edges["components.status"]  # likewise, in render()
    assert "pipelines.zerogpu" in edges["pipelines.tasks.base"]  # `from .. import zerogpu`: the module, not the package


def test_pipelines_import_no_gradio_and_no_components():
    edges = graph()
    wrong = {name: sorted(t for t in targets if t.split(".")[0] in UI_ONLY)
             for name, targets in edges.items() if under(name, "pipelines")}
    assert not {name: targets for name, targets in wrong.items() if targets}


def test_components_import_no_torch_or_transformers():
    edges = graph()
    wrong = {name: sorted(targets & MODEL_ONLY) for name, targets in edges.items()
             if under(name, "components") and name not in COMPONENTS_ALLOWED_MODEL_IMPORTS}
    assert not {name: targets for name, targets in wrong.items() if targets}
    # an allowance that is no longer needed goes (the list only shrinks)
    assert all(edges[name] & MODEL_ONLY for name in COMPONENTS_ALLOWED_MODEL_IMPORTS)


def test_pipelines_have_no_import_cycle():
    """No module of pipelines/ reaches itself through its imports (lazy ones inside functions included):
    each layer can be read, loaded and tested from the bottom up."""
    edges = graph()
    inside = {name: {t for t in targets if under(t, "pipelines")}
              for name, targets in edges.items() if under(name, "pipelines")}
    assert inside["pipelines.generation"]  # the graph is read at all
    assert [sorted(c) for c in cycles(inside)] == []


def test_components_have_no_import_cycle():
    edges = graph()
    inside = {name: {t for t in targets if under(t, "components")}
              for name, targets in edges.items() if under(name, "components")}
    known = [c for c in KNOWN_CYCLES if all(under(m, "components") for m in c)]
    assert [sorted(c) for c in cycles(inside) if c not in known] == []


def test_the_app_has_no_import_cycle():
    """Across the whole tree: app.py, the catalogue, components/, pipelines/, bench/."""
    found = cycles(graph())
    assert [sorted(c) for c in found if c not in KNOWN_CYCLES] == []
    # a known cycle that is gone leaves the list (it only shrinks)
    assert [sorted(c) for c in KNOWN_CYCLES if c not in found] == []


def test_the_catalogue_imports_nothing_of_either_layer():
    """Both layers read it: the standard library only (no gradio, no torch, nothing of ours)."""
    assert graph()["catalogue"] <= set(sys.stdlib_module_names)
