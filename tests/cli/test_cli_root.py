"""The semlab command itself: help, version, one-line errors, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import semlab
from semlab.cli import main

HEAVY = ("torch", "timm", "umap", "fastapi", "sklearn", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print(' '.join(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    return set(out)


def test_help_is_light():
    mods = _modules_after(
        "import contextlib, io\n"
        "from semlab.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])"
    )
    assert not mods.intersection(HEAVY), mods.intersection(HEAVY)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"semlab {semlab.__version__}"


def test_help_lists_stages(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("info", "init", "add", "crop", "patches", "demo"):
        assert command in out


@pytest.mark.parametrize("command", ["info", "init", "add", "crop", "patches", "demo"])
def test_every_command_has_help(capsys, command):
    assert main([command, "--help"]) == 0
    assert "Usage" in capsys.readouterr().out


def test_error_is_one_line(tmp_path, capsys):
    code = main(["info", str(tmp_path / "missing.tif")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and "missing.tif" in err
    assert "Traceback" not in err


def test_console_script_runs(tmp_path):
    exe = subprocess.run([sys.executable, "-m", "semlab", "info", str(tmp_path / "x.tif")],
                         capture_output=True, text=True)
    assert exe.returncode == 2 and "no such file" in exe.stderr and "Traceback" not in exe.stderr


def test_usage_error_is_reported_without_traceback(capsys):
    code = main(["info"])  # missing IMAGES argument
    err = capsys.readouterr().err
    assert code == 2 and "Missing argument" in err and "Traceback" not in err
    assert main(["no-such-command"]) == 2
