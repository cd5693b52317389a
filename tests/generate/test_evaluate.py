"""Evaluation: descriptors per condition, R², area fractions, persistence images, diversity."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from semlab.generate import ConditionalGenerator, evaluate_generator, patch_descriptors  # noqa: E402


def test_patch_descriptors_on_known_shapes():
    from semlab.quantify import shape_index

    im = np.ones((2, 40, 40), np.float32)
    rr, cc = np.mgrid[:40, :40]
    im[0][(rr - 20) ** 2 + (cc - 20) ** 2 <= 8**2] = 0.0  # one dark disk of radius 8
    im[1][10:20, 10:20] = 0.0  # one dark 10×10 square
    d = patch_descriptors(im, threshold=0.5, pixel_size=0.5)
    assert d["porosity"][1] == pytest.approx(100 / 1600)
    assert d["relative_density"][1] == pytest.approx(1 - 100 / 1600)
    assert d["porosity"][0] == pytest.approx(np.pi * 64 / 1600, rel=0.05)
    assert d["shape_index"][0] == pytest.approx(1.0, abs=0.1)  # a disk
    assert d["shape_index"][1] == pytest.approx(shape_index((im[1] <= 0.5).astype(np.uint8), phase=1))
    # specific perimeter of the disk: 2π r / area, in µm⁻¹ (r = 4 µm, field 20 µm × 20 µm)
    assert d["specific_perimeter_per_um"][0] == pytest.approx(2 * np.pi * 4 / 400, rel=0.1)


@pytest.mark.slow
def test_evaluation_report(trained_ddpm, burst_patches, tmp_path):
    patches, table, px = burst_patches
    rep = evaluate_generator(
        trained_ddpm.generator, patches, table, n_per_condition=12, seed=0, steps=10, out_dir=tmp_path / "rep"
    )
    s = rep.summary
    assert s["condition"].tolist() == ["burst_count=1", "burst_count=8"]
    assert s["n_real"].tolist() == [12, 12] and s["n_generated"].tolist() == [12, 12]
    # relative density rises with burst count in the real patches and in the generated ones
    assert s["relative_density_real_mean"][1] > s["relative_density_real_mean"][0]
    assert s["relative_density_generated_mean"][1] > s["relative_density_generated_mean"][0]
    assert rep.trend_agreement["relative_density"] == pytest.approx(1.0)
    assert set(rep.r2) == {"relative_density", "porosity", "specific_perimeter_per_um", "shape_index"}
    assert np.isfinite(rep.r2["porosity"]) and rep.length_unit == "µm"
    real_por = rep.per_image.query("source == 'real'")["porosity"]
    assert real_por.between(0, 1).all()
    assert (s["area_fraction_max_gap"].between(0, 1)).all()
    assert (s["diversity_ratio"] > 0.5).all() and rep.mode_collapse == []
    assert 0 < sum(rep.pca_explained) <= 1 + 1e-9
    files = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {
        "report.json",
        "summary.csv",
        "per_image.csv",
        "descriptors.png",
        "area_fractions.png",
        "persistence_images.png",
        "persistence_pca.png",
        "samples.png",
    } <= files
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert data["model"] == "ddpm" and len(data["conditions"]) == 2 and "threshold" in data["segmentation"]


class _Copier:
    """A 'generator' that returns one real patch every time: total mode collapse."""

    def __init__(self, patch):
        self.patch = torch.from_numpy(patch)
        self.config = type("C", (), {"size": patch.shape[0]})()

    def eval(self):
        return self

    def sample(self, levels, values, *, generator=None, guidance=None, steps=None):
        return self.patch.expand(levels.shape[0], 1, *self.patch.shape).clone()


@pytest.mark.slow
def test_mode_collapse_is_flagged(trained_ddpm, burst_patches):
    patches, table, _ = burst_patches
    g = trained_ddpm.generator
    fake = ConditionalGenerator(model=_Copier(patches[0]), name="copier", spec=g.spec, threshold=g.threshold)
    rep = evaluate_generator(fake, patches, table, n_per_condition=6, plots=False)
    assert (rep.summary["diversity_generated"] == 0).all()
    assert rep.mode_collapse == ["burst_count=1", "burst_count=8"]
