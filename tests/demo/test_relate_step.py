"""The demo's relate step on the demo's own structure table."""

from __future__ import annotations

import json

import pytest

from semlab.demo._relate import relate_step

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


@pytest.fixture(scope="session")
def demo_structure(tmp_path_factory):
    """The demo's structure table, built as ``run_demo`` builds it (without segmentation and patches)."""
    import warnings

    from semlab.data import sintering_series
    from semlab.quantify import descriptor_table

    out = tmp_path_factory.mktemp("demo")
    sintering_series(out, shape=(256, 256), samples_per_level=2, images_per_sample=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = descriptor_table(
            sorted((out / "labels").glob("*.tif")), table=out / "descriptors.csv", phase=1
        )
    table = table.rename(columns={"phase_fraction": "porosity_measured"})
    table["relative_density"] = 1.0 - table["porosity_measured"]
    table.to_csv(out / "structure.csv", index=False)
    return out / "structure.csv"


def test_relate_step_relates_density_to_conductivity(demo_structure, tmp_path):
    r = relate_step(demo_structure, out_dir=tmp_path / "relate", seed=0)
    # conductivity follows (1 − porosity)^1.5 in the generator: density explains most of it
    assert "relative_density" in r.features
    assert r.top_features[0] == "relative_density"
    assert r.loocv_r2 > 0.8
    assert r.n == 16 and r.n_subsets == 6 + 15 + 20
    lines = r.lines()
    assert len(lines) == 3 and all(line.startswith("relate: ") for line in lines)
    assert f"LOOCV R² = {r.loocv_r2:.3f}" in lines[1]
    metrics = json.loads((tmp_path / "relate" / "metrics.json").read_text())
    assert metrics["cv_scores"]["r2"] == pytest.approx(r.loocv_r2, abs=1e-4)
    assert (tmp_path / "relate" / "search.csv").is_file() and (tmp_path / "relate" / "parity.png").is_file()
    again = relate_step(demo_structure, out_dir=tmp_path / "again", seed=0)
    assert again.features == r.features and again.loocv_r2 == r.loocv_r2
