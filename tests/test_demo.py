"""The end-to-end demo (quick mode): outputs exist, are consistent and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from semlab.cli import main
from semlab.demo import PATCHES_PER_IMAGE, run_demo


def test_demo_quick(tmp_path):
    r = run_demo(tmp_path / "demo", quick=True, seed=3)
    assert r.n_images == 16 and r.n_samples == 8  # 4 burst counts × 2 samples × 2 images
    assert r.added == 16 and r.already_present == 0
    assert r.pixel_sizes_um == [0.008]
    with np.load(r.patches) as z:
        patches = z["patches"]
    assert patches.shape == (16 * PATCHES_PER_IMAGE, 128, 128) and patches.dtype == np.float32
    assert 0.0 <= patches.min() and patches.max() <= 1.0
    table = pd.read_csv(tmp_path / "demo" / "patches.csv")
    assert len(table) == len(patches)
    # every patch lies inside its image with the data bar cropped off
    crop = set(r.cropped_rows.values())
    assert len(crop) == 1 and 0 < crop.pop() < 64
    assert (table["row"] + table["size_px"] <= 256 - max(r.cropped_rows.values())).all()
    # porosity falls with burst count
    por = [r.porosity_by_burst[k] for k in sorted(r.porosity_by_burst, key=int)]
    assert all(a > b for a, b in zip(por, por[1:], strict=False))
    # structure measured on the label images agrees with the generator's truth and
    # relative density rises (porosity falls) with burst count
    structure = pd.read_csv(tmp_path / "demo" / "structure.csv")
    assert len(structure) == 16
    np.testing.assert_allclose(structure["porosity_measured"], structure["porosity"], atol=1e-6)
    dens = [r.relative_density_by_burst[k] for k in sorted(r.relative_density_by_burst, key=int)]
    assert all(a < b for a, b in zip(dens, dens[1:], strict=False))
    assert structure["specific_perimeter_per_um"].gt(1).all()  # µm⁻¹ at 8 nm pixels, not px⁻¹
    # hybrid segmentation finds most pores; one overlay per burst count
    assert 0.5 < r.pore_iou_hybrid <= 1.0
    assert len(r.overlays) == 4 and all(Path(o).stat().st_size > 0 for o in r.overlays)
    assert structure["porosity_hybrid"].between(0.05, 0.6).all()
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["n_patches"] == len(patches)
    assert "| 8 |" in (tmp_path / "demo" / "report.md").read_text()

    # a re-run adds nothing and reproduces the same patches
    again = run_demo(tmp_path / "demo", quick=True, seed=3)
    assert again.added == 0 and again.already_present == 16
    with np.load(again.patches) as z:
        np.testing.assert_array_equal(z["patches"], patches)


def test_demo_cli(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "report" in out and str(tmp_path / "d") in out and "relative density" in out
