"""docs/relate.md: its Python blocks run and print exactly what the page shows; so does its CLI block."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import warnings
from pathlib import Path

import pytest

from semlab.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "relate.md"
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    if not DOC.is_file():
        pytest.skip(f"{DOC} not found")
    return [(m[1], m[2]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def test_worked_example_runs_and_prints_what_the_page_shows(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks()
    namespace: dict = {}
    checked = 0
    for i, (lang, code) in enumerate(blocks):
        if lang != "python":
            continue
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, f"{DOC.name}[block {i}]", "exec"), namespace)  # the page's own example
        if i + 1 < len(blocks) and blocks[i + 1][0] == "text":
            assert out.getvalue().strip() == blocks[i + 1][1].strip()
            checked += 1
    assert checked >= 4
    assert (tmp_path / "run-conductivity" / "parity.png").is_file()


def test_cli_block_prints_what_the_page_shows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = _blocks()
    python = next(code for lang, code in blocks if lang == "python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(python, {})  # writes specimens.csv
    k = next(i for i, (lang, code) in enumerate(blocks) if lang == "sh" and "--search" in code)
    commands = blocks[k][1].replace("\\\n", " ").strip().splitlines()
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "semlab"
        assert main(args[1:]) == 0
    assert capsys.readouterr().out.strip() == blocks[k + 1][1].strip()
