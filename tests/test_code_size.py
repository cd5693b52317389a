"""Size rules of ``src/semlab`` (docs/conventions.md, "Functions").

Every module is parsed with :mod:`ast`:

* no function (or method, or nested function) is longer than ``MAX_LINES`` lines, counted from
  its ``def`` line (decorators excluded) to its last line, docstring included;
* no function outside ``semlab/cli/`` (where Typer command signatures list their options) takes
  more than ``MAX_PARAMS`` parameters: ``self``/``cls`` of methods excluded, ``*args`` and
  ``**kwargs`` one each. Past that, group options into a frozen config dataclass.

Offenders are printed as ``file:line name (what)``, one per line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import semlab

SRC = Path(semlab.__file__).resolve().parent

MAX_LINES = 120
MAX_PARAMS = 12

_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _functions(tree: ast.AST):
    """Every function in ``tree`` with its qualified name and whether it is a method."""

    def visit(node: ast.AST, prefix: str, in_class: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, _FUNCS):
                name = f"{prefix}{child.name}"
                yield child, name, in_class
                yield from visit(child, f"{name}.", False)
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.", True)
            else:
                yield from visit(child, prefix, in_class)

    yield from visit(tree, "", False)


def count_params(func: ast.FunctionDef | ast.AsyncFunctionDef, *, is_method: bool) -> int:
    """Parameters of ``func``: self/cls excluded, ``*args`` and ``**kwargs`` one each."""
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    static = any(
        isinstance(d, ast.Name) and d.id == "staticmethod" for d in func.decorator_list
    )
    if is_method and not static and positional and positional[0].arg in {"self", "cls"}:
        positional = positional[1:]
    return (
        len(positional)
        + len(args.kwonlyargs)
        + (args.vararg is not None)
        + (args.kwarg is not None)
    )


def function_lines(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the ``def`` line to the function's last line (decorators excluded)."""
    return (func.end_lineno or func.lineno) - func.lineno + 1


def _offenders() -> tuple[list[str], list[str]]:
    too_long: list[str] = []
    too_many: list[str] = []
    for path in _modules():
        rel = "src/" + path.relative_to(SRC.parent).as_posix()
        in_cli = path.relative_to(SRC).parts[0] == "cli"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for func, name, is_method in _functions(tree):
            lines = function_lines(func)
            if lines > MAX_LINES:
                too_long.append(f"{rel}:{func.lineno} {name} ({lines} lines > {MAX_LINES})")
            n = count_params(func, is_method=is_method)
            if n > MAX_PARAMS and not in_cli:
                too_many.append(f"{rel}:{func.lineno} {name} ({n} parameters > {MAX_PARAMS})")
    return too_long, too_many


def test_counting_rules():
    src = (
        "class A:\n"
        "    def m(self, a, b, *args, c, **kw):\n"
        "        pass\n"
        "    @staticmethod\n"
        "    def s(self, a):\n"
        "        pass\n"
        "def f(a, /, b, *, c):\n"
        "    def g(self):\n"
        "        return 1\n"
        "    return g\n"
    )
    found = {name: f for f, name, _ in _functions(ast.parse(src))}
    methods = {name: m for _, name, m in _functions(ast.parse(src))}
    assert set(found) == {"A.m", "A.s", "f", "f.g"}
    assert count_params(found["A.m"], is_method=methods["A.m"]) == 5
    assert count_params(found["A.s"], is_method=methods["A.s"]) == 2
    assert count_params(found["f"], is_method=methods["f"]) == 3
    assert count_params(found["f.g"], is_method=methods["f.g"]) == 1  # not a method
    assert function_lines(found["f"]) == 4


def test_no_function_longer_than_120_lines():
    too_long, _ = _offenders()
    listing = "\n".join(too_long)
    assert not too_long, f"functions longer than {MAX_LINES} lines:\n{listing}"


def test_no_function_with_more_than_12_parameters_outside_cli():
    _, too_many = _offenders()
    listing = "\n".join(too_many)
    assert not too_many, f"functions with more than {MAX_PARAMS} parameters (outside cli/):\n{listing}"
