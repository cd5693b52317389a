"""The examples in the docstrings of semlab's public modules run (docs/conventions.md, "Functions").

Every public module of ``src/semlab`` (no path part starting with ``_``) is imported and its
docstrings run with :mod:`doctest`, in a temporary working folder. A module whose import needs
a package that is not installed (an optional extra) is skipped, naming the package. Examples
that need data or a trained model say ``# doctest: +SKIP``; doctest honours it.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

import semlab

SRC = Path(semlab.__file__).resolve().parent

#: Modules not imported here: running them is the command line itself.
NOT_IMPORTED = {"semlab.__main__"}

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _public_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") for p in parts[1:]):
            continue
        name = ".".join(parts)
        if name not in NOT_IMPORTED:
            names.append(name)
    return names


MODULES = _public_modules()


def test_modules_are_found():
    assert "semlab" in MODULES and "semlab.quantify.twod" in MODULES
    assert not [m for m in MODULES if "._" in m]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("semlab"):
            pytest.skip(f"{name} needs {exc.name}, which is not installed (an optional extra)")
        raise
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    if not tests:
        return
    monkeypatch.chdir(tmp_path)
    failed = []
    for test in tests:
        out: list[str] = []
        if doctest.DocTestRunner(optionflags=OPTIONS).run(test, out=out.append).failed:
            failed.append("".join(out))
    assert not failed, f"failing examples in {name}:\n" + "\n".join(failed)
