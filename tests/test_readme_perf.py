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


def test_quantify_rows_follow_the_two_estimator_surface_layout():
    """quantify.json with two surface-area entries a phase (done_when has value_test) gets a row
    for each; a missing entry of that layout raises instead of vanishing from the table."""
    import copy
    import json

    import pytest

    pt = _perf_table()
    d = json.loads((ROOT / "benchmarks" / "results" / "quantify.json").read_text(encoding="utf-8"))
    size = str(d["three_d"]["done_when"]["size"])
    old, new = copy.deepcopy(d), copy.deepcopy(d)
    old_desc = old["three_d"]["sizes"][size]["descriptors"]
    new_desc = new["three_d"]["sizes"][size]["descriptors"]
    old["three_d"]["done_when"].pop("value_test", None)
    new["three_d"]["done_when"]["value_test"] = {}
    for phase in ("pore", "nmc"):
        old_desc.pop(f"specific_surface_area_{phase}_raw_mc_per_px", None)
        new_desc[f"specific_surface_area_{phase}_raw_mc_per_px"] = dict(
            old_desc[f"specific_surface_area_{phase}_per_px"], value_rel_diff=0.0, vs_porespy_time_ratio=0.5
        )
    measures = [r.measure for r in pt._quantify(new)]
    assert sum("raw marching cubes" in m for m in measures) == 2
    assert sum("default estimator" in m for m in measures) == 2
    assert len(measures) == len(pt._quantify(old)) + 2
    del new_desc["specific_surface_area_nmc_raw_mc_per_px"]
    with pytest.raises(KeyError):
        pt._quantify(new)


def test_unet_runtime_row_reports_the_default_runtime_against_torch():
    """The U-Net row shows the runtime ``auto`` picks, its speed-up over torch per network, and
    raises when a network's figure is missing (rather than dropping it from the table)."""
    import copy
    import json

    import pytest

    pt = _perf_table()
    d = json.loads((ROOT / "benchmarks" / "results" / "unet_runtime.json").read_text(encoding="utf-8"))
    (row,) = pt._unet_runtime(d)
    run = d["default"]
    nets = list(d["networks"].values())
    assert row.semlab.startswith(f"{nets[0]['tiles_per_s'][run]:.1f}") and f"({run}," in row.semlab
    assert row.ratio == " / ".join(f"{n['speedup_vs_torch'][run]:.1f}×" for n in nets) + " torch"
    assert row.versus.startswith(f"torch {nets[0]['tiles_per_s']['torch']:.1f}")
    other = copy.deepcopy(d)
    other["default"] = next(r for r in nets[0]["speedup_vs_torch"] if r != run)
    assert pt._unet_runtime(other)[0].semlab != row.semlab
    del other["networks"][next(iter(other["networks"]))]["speedup_vs_torch"][other["default"]]
    with pytest.raises(KeyError):
        pt._unet_runtime(other)
