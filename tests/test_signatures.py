"""The library's interface stays narrow: no public function or method takes more than eight parameters (settings
that travel together are one typed value: `attacks.Attack`, `train.Recipe`, `features.Matching`, ...), and the
default PGD step size is written in one place, `attacks.Attack.step`."""
import ast
from pathlib import Path

from pagutils.core.attacks import Attack

PACKAGE = Path(__file__).resolve().parent.parent / "pagutils"
MOST = 8


def _public(name):
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _parameters(function, method):
    """The parameters of a function definition (*args and **kwargs count one each); self or cls not counted."""
    args = function.args
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    static = any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list)
    if method and not static and names:
        names = names[1:]
    return names + [a.arg for a in (args.vararg, args.kwarg) if a is not None]


def _signatures():
    """(where, parameters) of every public function of pagutils/ (subpackages included), at module level and in
    public classes; functions nested in functions are not part of the interface."""
    found = []

    def walk(node, path, prefix, in_class):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef) and _public(child.name):
                walk(child, path, f"{prefix}{child.name}.", True)
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(child.name):
                found.append((f"{path}:{child.lineno} {prefix}{child.name}", _parameters(child, in_class)))

    for path in sorted(PACKAGE.rglob("*.py")):
        walk(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(PACKAGE.parent), "", False)
    return found


def test_every_public_function_takes_at_most_eight_parameters():
    signatures = _signatures()
    assert len(signatures) > 200 and any("experiments" in where for where, _ in signatures)
    wide = [f"{where} ({len(names)}: {', '.join(names)})" for where, names in signatures if len(names) > MOST]
    assert not wide, "public functions with more than 8 parameters (group settings into a typed value):\n" + \
        "\n".join(wide)


def test_the_walk_counts_parameters_as_a_reader_does():
    tree = ast.parse("def f(a, b=1, *rest, c, **more): pass\nclass K:\n    def m(self, x): pass\n"
                     "    @staticmethod\n    def s(x, y): pass")
    f, k = tree.body
    assert _parameters(f, False) == ["a", "b", "c", "rest", "more"]
    assert _parameters(k.body[0], True) == ["x"] and _parameters(k.body[1], True) == ["x", "y"]


def test_the_default_step_size_is_written_once():
    assert Attack(norm="l2", eps=2.0, steps=10).step == 0.5
    assert Attack("linf", 0.3, steps=3, step_size=0.1).step == 0.1
    sources = {path: path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}
    where = {str(path.relative_to(PACKAGE.parent)): text.count("2.5 *") for path, text in sources.items()
             if "2.5 *" in text}
    assert where == {"pagutils/core/attacks.py": 1}, where
