"""The README's performance section is the one benchmarks/perf_table.py renders from the results."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _perf_table():
    spec = importlib.util.spec_from_file_location("perf_table", ROOT / "benchmarks" / "perf_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_readme_performance_section_is_generated_from_the_results():
    pt = _perf_table()
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = pt.render()
    assert section in text, (
        "README.md's performance section is stale: run python benchmarks/perf_table.py --write"
    )


def test_every_row_cites_an_existing_result_file():
    pt = _perf_table()
    table, _rest = pt.rows()
    assert table
    for row in table:
        assert (ROOT / "benchmarks" / "results" / row.source).is_file()
        assert row.semlab and row.versus and row.ratio
