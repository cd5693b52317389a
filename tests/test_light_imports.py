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
    "semlab.scale": DEEP | {"ray", "pandas"},  # Ray only when a run asks for engine="ray"
    "semlab.cli": DEEP | {"pandas", "skimage", "scipy", "shap"},
}


def _top_level_modules_after(module: str) -> set[str]:
    code = f"import {module}, sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return {m.split(".")[0] for m in out.split()}


@pytest.mark.parametrize("module", sorted(CASES))
def test_import_is_light(module):
    assert not _top_level_modules_after(module) & CASES[module]


def test_semlab_help_is_light():
    """``semlab --help`` (through ``python -m semlab``) imports no heavy library."""
    code = (
        "import contextlib, io, sys\n"
        "from semlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert not {m.split(".")[0] for m in out.split()} & (DEEP | {"shap", "ray"})


def _import_ms(module: str) -> float:
    """Cumulative import time of ``module`` in ms, as ``python -X importtime`` reports it."""
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], check=True, capture_output=True, text=True
    ).stderr
    rows = [line.split("|") for line in err.splitlines() if line.startswith("import time:")]
    return max(int(row[1]) for row in rows if row[2].strip() == module) / 1000


@pytest.mark.parametrize("module", ["semlab", "semlab.quantify", "semlab.features"])
def test_import_is_fast(module):
    """``import semlab`` and a stage import stay under 50 ms (typically 2 ms and 7 ms)."""
    best = min(_import_ms(module) for _ in range(3))  # the best of three: a busy machine is not the code
    assert best < 50, f"import {module} took {best:.1f} ms"
