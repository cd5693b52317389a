"""The demo lives in ``semlab.demo`` only, and uses nothing but the stages' public API."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

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
]


@pytest.mark.parametrize("stage", STAGES)
def test_no_stage_holds_demo_code(stage):
    package = importlib.import_module(f"semlab.{stage}")
    modules = [
        m.name for m in pkgutil.walk_packages(package.__path__, f"semlab.{stage}.", onerror=lambda _: None)
    ]
    assert not [m for m in modules if "demo" in m.rsplit(".", 1)[-1].lower()]
    exported = set(getattr(package, "__all__", [])) | set(dir(package))
    assert not [name for name in exported if "demo" in name.lower()]


def _stage_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from semlab.<stage>… import name`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("semlab."):
            stage = node.module.split(".")[1]
            if stage in STAGES:
                found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [
                (a.name, "") for a in node.names if a.name.split(".")[1:2] and a.name.split(".")[1] in STAGES
            ]
    return found


def test_demo_uses_only_the_stages_public_api():
    import semlab.demo

    files = sorted(Path(semlab.demo.__file__).parent.glob("*.py"))
    assert len(files) > 3
    seen = 0
    for path in files:
        for module, name in _stage_imports(path):
            seen += 1
            assert module.count(".") == 1, (
                f"{path.name} imports {name} from {module}, not from the stage package"
            )
            public = importlib.import_module(module).__all__
            assert name in public, f"{path.name} imports {name!r}, which {module} does not export"
    assert seen > 10
