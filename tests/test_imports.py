"""The library's modules import each other without a cycle, counting imports inside functions too.

A cycle hidden in a function-level import works until someone moves the import to the top of the file; then
one module sees the other half-initialised. The graph is read from the source with `ast`, not by importing.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pagutils"


def imports_of(path: Path, modules: set) -> set:
    """The package modules that the file at `path` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1 or base.split(".")[0] == "pagutils":
                base = base.removeprefix("pagutils").lstrip(".")
                names = [base] if base else [alias.name for alias in node.names]
                found |= {name.split(".")[0] for name in names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("pagutils.")}
    return found & modules


def import_graph(package: Path = PACKAGE) -> dict:
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    return {name: imports_of(package / f"{name}.py", modules) - {name} for name in sorted(modules)}


def find_cycle(graph: dict):
    """One cycle of `graph` (module -> modules it imports) as a list [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                cycle = visit(other)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_finder_sees_a_cycle_and_its_absence():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_reads_top_level_and_function_level_imports(tmp_path):
    (tmp_path / "one.py").write_text("from . import two\n")
    (tmp_path / "two.py").write_text("def f():\n    from .three import x\n    import pagutils.one\n")
    (tmp_path / "three.py").write_text("import torch\nfrom pagutils import two\n")
    assert import_graph(tmp_path) == {"one": {"two"}, "three": {"two"}, "two": {"one", "three"}}


def test_pagutils_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 15 and "attacks" in graph["train"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in pagutils: {' -> '.join(cycle)}"


@pytest.mark.parametrize("module", ["checks", "paths", "progress", "defaults", "profiles"])
def test_the_foundations_import_nothing_of_the_library_but_each_other(module):
    assert import_graph()[module] <= {"checks", "paths"}


def private_uses(path: Path, modules: set) -> list:
    """Private names (one leading underscore) of other package modules that the file at `path` uses: imported
    (`from .attacks import _pgd`) or reached through a module (`attacks._pgd`)."""
    tree = ast.parse(path.read_text(), str(path))
    aliases, found = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level >= 1 or (node.module or "").startswith("pagutils")):
            base = (node.module or "").removeprefix("pagutils").lstrip(".")
            for alias in node.names:
                if not base and alias.name in modules:
                    aliases.add(alias.asname or alias.name)
                elif base and alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{base}.{alias.name}")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_the_privacy_finder_sees_both_ways_of_reaching_a_private_name(tmp_path):
    (tmp_path / "one.py").write_text("from .two import _hidden, shown\nfrom . import two\ntwo._inner()\n"
                                     "two.__name__\n")
    assert private_uses(tmp_path / "one.py", {"one", "two"}) == ["two._hidden", "two._inner"]


def test_no_module_uses_another_modules_private_names():
    modules = {p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"}
    found = {str(path.relative_to(PACKAGE)): private_uses(path, modules) for path in PACKAGE.rglob("*.py")}
    found = {name: uses for name, uses in found.items() if uses}
    assert not found, f"private names used across modules (make them public, or keep the use in their module): {found}"
