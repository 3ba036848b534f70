"""The library's modules import each other without a cycle, counting imports inside functions too.

A cycle hidden in a function-level import works until someone moves the import to the top of the file; then
one module sees the other half-initialised. The graph is read from the source with `ast`, not by importing.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pagutils"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    """The dotted name below the package of the file at `path`: 'core.attacks', 'experiments' (a subpackage's
    __init__), '' (the package's own __init__)."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set, package: Path = PACKAGE) -> set:
    """The package modules (dotted names below the package) that the file at `path` imports, at any depth of its
    code, relative (`from ..core import zoo`) or absolute (`from pagutils.core.zoo import x`)."""
    name = module_name(path, package)
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    here = [part for part in here if part]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here[:len(here) - (node.level - 1)] + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "pagutils":
                base = node.module.removeprefix("pagutils").lstrip(".")
            else:
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}".lstrip(".")
                if full in modules:
                    found.add(full)
                elif base in modules:
                    found.add(base)
        elif isinstance(node, ast.Import):
            found |= {alias.name.removeprefix("pagutils.") for alias in node.names
                      if alias.name.removeprefix("pagutils.") in modules}
    return found


def import_graph(package: Path = PACKAGE) -> dict:
    """module -> the package modules it imports, for every module and subpackage (not the package's own
    __init__, which gathers the modules chapters use)."""
    files = {module_name(p, package): p for p in package.rglob("*.py") if "__pycache__" not in p.parts}
    files.pop("", None)
    modules = set(files)
    return {name: imports_of(path, modules, package) - {name} for name, path in sorted(files.items())}


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


def test_the_graph_reads_imports_across_subpackages(tmp_path):
    for folder in ("core", "part"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "core" / "a.py").write_text("from . import b\nfrom .b import x\n")
    (tmp_path / "core" / "b.py").write_text("")
    (tmp_path / "part" / "c.py").write_text("from ..core import a\ndef f():\n    from ..core.b import y\n"
                                            "    from pagutils.core import b\n")
    graph = import_graph(tmp_path)
    assert graph["core.a"] == {"core.b"} and graph["part.c"] == {"core.a", "core.b"} and graph["core"] == set()


def test_pagutils_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 15 and "core.attacks" in graph["core.train"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle in pagutils: {' -> '.join(cycle)}"


@pytest.mark.parametrize("module", ["checks", "paths", "progress", "defaults", "profiles"])
def test_the_foundations_import_nothing_of_the_library_but_each_other(module):
    assert import_graph()[f"core.{module}"] <= {"core.checks", "core.paths"}


PARTS = {"robust_features", "aligned_gradients"}
# what a folder must not import (issue 26's layering): the core knows no Part, presentation, experiment, cluster or
# course module; a Part, a chapter's spec and the presentation know nothing of the cluster or the course tools
FORBIDDEN = {"core": PARTS | {"experiments", "present", "scale", "course"}, **{
    folder: {"scale", "course"} for folder in (*PARTS, "experiments", "present")}}


def layer_violations(graph: dict) -> list:
    return sorted(f"{module} imports {other}" for module, imported in graph.items() for other in imported
                  if other.split(".")[0] in FORBIDDEN.get(module.split(".")[0], ()))


def test_the_layering_check_sees_a_lower_folder_importing_a_higher_one():
    assert layer_violations({"core.zoo": {"core.cache", "robust_features.features"},
                             "robust_features.features": {"core.zoo", "scale.distributed"},
                             "scale.prefill": {"experiments", "core.zoo"}}) == [
        "core.zoo imports robust_features.features", "robust_features.features imports scale.distributed"]


def test_every_module_sits_in_a_folder_of_the_course_and_no_lower_folder_imports_a_higher_one():
    graph = import_graph()
    folders = {module.split(".")[0] for module in graph}
    assert folders == {"core", "experiments", "present", "scale", "course"} | PARTS
    assert not [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"], "a module outside the folders"
    assert not layer_violations(graph), layer_violations(graph)


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
    modules = {p.stem for p in PACKAGE.rglob("*.py") if p.stem != "__init__"} | {p.parent.name for p in
                                                                                 PACKAGE.rglob("__init__.py")}
    found = {str(path.relative_to(PACKAGE)): private_uses(path, modules) for path in PACKAGE.rglob("*.py")}
    found = {name: uses for name, uses in found.items() if uses}
    assert not found, f"private names used across modules (make them public, or keep the use in their module): {found}"


def test_every_module_is_reached_from_pagutils_by_its_short_name():
    """`from pagutils import attacks, pack` keeps notebooks short: each module of a folder is the attribute of its
    own name (imported with `import pagutils`, or on first use for the cluster layer and the course tools)."""
    import importlib

    import pagutils
    modules = [name for name in import_graph() if "." in name and not name.startswith("experiments.")]
    assert len(modules) > 30
    for dotted in modules:
        assert getattr(pagutils, dotted.split(".")[-1]) is importlib.import_module(f"pagutils.{dotted}"), dotted
    with pytest.raises(AttributeError, match="has no attribute 'attack'"):
        pagutils.attack
