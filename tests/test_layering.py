"""The import graph of ``src/semlab`` follows the data flow (docs/conventions.md, "Layering").

Every module is parsed with :mod:`ast`; every ``import``/``from … import`` of semlab (also
inside functions and ``if TYPE_CHECKING:`` blocks: they are dependencies all the same) and
every ``importlib.import_module("semlab…")`` with a constant name is checked:

* a stage imports only the stages before it in the data flow (``UPSTREAM``), the top-level
  helpers (``HELPERS``) and ``semlab`` itself (``__version__``);
* the front ends (cli, serve, demo) may import every stage and are imported by nothing
  (except that the CLI runs the web app and the demo);
* nobody imports another package's private name or private module
  (``from semlab.x import _y``, ``from semlab.x._mod import y``); private modules of one's own
  package are fine, and so are the top-level helpers (``semlab._util``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import semlab

SRC = Path(semlab.__file__).resolve().parent

#: Top-level modules every package may import.
HELPERS = {"_util", "_plot", "_onnx", "errors", "registry", "training"}

#: The front ends: import everything, imported by nothing (but the CLI runs serve and demo).
FRONT_ENDS = {"cli", "serve", "demo", "__main__"}
FRONT_END_IMPORTERS = {"cli": {"serve", "demo"}, "__main__": {"cli"}}

#: For each stage, the stages it may import (everything before it in the data flow).
_CHAIN = ["io", "data", "dataset", "preprocess", "scale"]
UPSTREAM: dict[str, set[str]] = {
    "scale": set(),  # the Ray engine: generic, the stages hand it their per-image work
    "io": set(),
    "data": {"io"},
    "dataset": {"io", "data"},
    "preprocess": {"io", "data", "dataset"},
    "features": set(_CHAIN),
    "learn": set(_CHAIN) | {"features"},
    "maps": set(_CHAIN) | {"features"},
    "segment": set(_CHAIN),
    "quantify": set(_CHAIN) | {"segment"},
    "relate": set(_CHAIN) | {"segment", "quantify"},
    "generate": set(_CHAIN) | {"segment", "quantify"},
}
# The helpers sit below every stage: they import only each other.
UPSTREAM.update({helper: set() for helper in HELPERS})


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_name(path: Path, src: Path = SRC) -> list[str]:
    parts = ["semlab", *path.relative_to(src).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _package_of(parts: list[str]) -> str:
    """The first component below ``semlab``: a stage, a helper or a front end."""
    return parts[1] if len(parts) > 1 else "semlab"


def _imports(path: Path, src: Path = SRC) -> list[tuple[int, list[str], list[str]]]:
    """(line, imported module's parts, imported names) of every semlab import in a file."""
    parts = _module_name(path, src)
    here = parts if path.name == "__init__.py" else parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split("."), []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)]
                module = base + (node.module.split(".") if node.module else [])
            else:
                module = (node.module or "").split(".")
            found.append((node.lineno, module, [alias.name for alias in node.names]))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.split("."), []))
    return [f for f in found if f[1][0] == "semlab"]


def _violations(path: Path, src: Path = SRC) -> list[str]:
    own = _package_of(_module_name(path, src))
    rel = path.relative_to(src.parent)
    out = []
    for line, module, names in _imports(path, src):
        if module == ["semlab"]:
            # `from semlab import io` names a package; `from semlab import __version__` an attribute
            modules = [n for n in names if (src / n).is_dir() or (src / f"{n}.py").is_file()]
            targets = [(["semlab", n], []) for n in modules]
        else:
            targets = [(module, names)]
        for target, imported in targets:
            other = _package_of(target)
            where = f"{rel}:{line} imports {'.'.join(target)}"
            if other == own or other == "semlab":
                continue
            if other in FRONT_ENDS:
                if other not in FRONT_END_IMPORTERS.get(own, set()):
                    out.append(f"{where}: {other} is a front end, imported by nothing")
                continue
            if own not in FRONT_ENDS and other not in HELPERS and other not in UPSTREAM.get(own, set()):
                out.append(f"{where}: {own} may not import {other} (it comes later in the data flow)")
            private_modules = [p for p in target[2:] if _is_private(p)]
            if other not in HELPERS and _is_private(other):
                private_modules.insert(0, other)
            private_names = [n for n in imported if _is_private(n)]
            if private_modules or private_names:
                what = ", ".join(private_modules + private_names)
                out.append(f"{where}: private name of another package ({what})")
    return out


def _files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_package_has_a_place_in_the_order():
    packages = {_package_of(_module_name(p)) for p in _files()} - {"semlab"}
    unplaced = packages - set(UPSTREAM) - FRONT_ENDS
    assert not unplaced, f"add {sorted(unplaced)} to UPSTREAM (and to docs/conventions.md)"
    assert {"io", "preprocess", "segment", "quantify", "cli"} <= packages


@pytest.mark.parametrize("path", _files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layering(path):
    assert not _violations(path), "\n".join(_violations(path))


def test_the_checker_sees_violations(tmp_path):
    """The rules above catch what they claim to (an upward, a private and a front-end import)."""
    fake = tmp_path / "semlab"
    (fake / "dataset").mkdir(parents=True)
    (fake / "learn").mkdir()
    (fake / "dataset" / "bad.py").write_text(
        "def f():\n"
        "    from semlab.preprocess import locate_databar\n"
        "    from semlab.io.readers import _check_pixel_size\n"
        "    from semlab.io._private import x\n"
        "    import semlab.cli\n"
        "    from semlab._util import atomic_path\n"
        "    from semlab.registry import _REGISTRY\n"
        "    from . import _own_private\n"
    )
    (fake / "learn" / "ok.py").write_text(
        "from semlab.features import extract_features\nfrom semlab.learn._x import y\nfrom .train import z\n"
    )
    for name in ["io", "preprocess", "cli", "features"]:
        (fake / name).mkdir()
    (fake / "_util.py").write_text("")
    (fake / "registry.py").write_text("")
    bad = _violations(fake / "dataset" / "bad.py", fake)
    assert len(bad) == 5, bad
    assert any("may not import semlab.preprocess" in b or "may not import preprocess" in b for b in bad)
    assert any("_check_pixel_size" in b for b in bad) and any("_REGISTRY" in b for b in bad)
    assert any("io._private" in b for b in bad) and any("front end" in b for b in bad)
    assert _violations(fake / "learn" / "ok.py", fake) == []
