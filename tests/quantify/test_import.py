"""``import semlab.quantify`` stays light."""

from __future__ import annotations

import subprocess
import sys


def test_import_quantify_is_light():
    code = "import semlab.quantify, sys; print(' '.join(sorted(sys.modules)))"
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], check=True, capture_output=True, text=True
        ).stdout.split()
    )
    assert not mods & {"matplotlib", "sklearn", "torch", "porespy", "cripser"}
