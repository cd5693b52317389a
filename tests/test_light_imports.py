"""Importing a stage loads only what that stage needs at import time (DESIGN: lazy heavy imports)."""

from __future__ import annotations

import subprocess
import sys

import pytest

DEEP = {"torch", "timm", "umap", "fastapi", "sklearn", "matplotlib"}

# module → top-level packages it must not pull in
CASES = {
    "semlab": DEEP | {"numpy"},  # the package itself imports nothing third-party
    "semlab.io": DEEP,
    "semlab.preprocess": DEEP | {"skimage", "scipy", "pandas"},
    "semlab.data": DEEP,
    "semlab.dataset": DEEP,
    "semlab.quantify": DEEP | {"porespy", "cripser"},
    "semlab.segment": DEEP,
    "semlab.features": DEEP,
    "semlab.learn": DEEP,
    "semlab.maps": DEEP,
    "semlab.relate": DEEP | {"shap"},
    "semlab.generate": DEEP,
    "semlab.serve": DEEP,
    "semlab.cli": DEEP | {"pandas", "skimage", "scipy", "shap"},
}


def _top_level_modules_after(module: str) -> set[str]:
    code = f"import {module}, sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.parametrize("module", sorted(CASES))
def test_import_is_light(module):
    assert not _top_level_modules_after(module) & CASES[module]
