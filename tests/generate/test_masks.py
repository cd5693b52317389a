"""Conditional mask generation (semlab.generate.masks): the mask set, the shared descriptor, learning."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from semlab.errors import MissingFileError, ParameterError, TableError
from semlab.generate.masks import (
    MaskSet,
    binarize,
    compare_mask_patches,
    condition_levels,
    load_mask_set,
    mask_particles,
    patch_stats,
    real_mask_patches,
    sample_masks,
    tile_mask_patches,
    train_mask_generator,
)

UHCS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "uhcs-spheroidite"


def _discs(shape: tuple[int, int], radius: float, spacing: int, offset: int = 0) -> np.ndarray:
    """A 0/1 mask of discs of one radius on a square grid."""
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    m = np.zeros(shape, np.uint8)
    for r0 in range(spacing // 2 + offset, shape[0], spacing):
        for c0 in range(spacing // 2 + offset, shape[1], spacing):
            m[(rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2] = 1
    return m


def _write_set(folder: Path, masks: list[np.ndarray], times: list[float]) -> Path:
    names = []
    for i, m in enumerate(masks):
        names.append(f"m{i}.npy")
        np.save(folder / names[-1], m)
    pd.DataFrame({"mask_file": names, "anneal_time_h": times, "temperature_C": 800}).to_csv(
        folder / "samples.csv", index=False
    )
    return folder


# ------------------------------------------------------------------ loading


def test_load_mask_set_from_folder(tmp_path):
    a, b = _discs((40, 50), 3, 12), _discs((40, 50), 5, 16)
    _write_set(tmp_path, [a, b, a.copy(), b * 255], [1.0, 10.0, 1.0, 10.0])
    ms = load_mask_set(tmp_path)
    # the third file is byte-identical to the first and is dropped; 0/255 becomes 0/1
    assert ms.dropped == ("m2.npy",) and len(ms) == 3
    assert ms.masks.dtype == np.uint8 and set(np.unique(ms.masks)) == {0, 1}
    assert list(ms.table["file"]) == ["m0.npy", "m1.npy", "m3.npy"]
    assert np.array_equal(ms.masks[2], b)
    assert condition_levels(ms.table, "anneal_time_h") == [1.0, 10.0]
    assert len(load_mask_set(tmp_path, drop_duplicates=False)) == 4
    assert len(load_mask_set(tmp_path, where={"anneal_time_h": 10.0})) == 2


def test_load_mask_set_errors(tmp_path):
    with pytest.raises(MissingFileError, match="samples.csv"):
        load_mask_set(tmp_path)
    _write_set(tmp_path, [_discs((20, 20), 3, 10)], [1.0])
    with pytest.raises(TableError, match="no column 'file'"):
        load_mask_set(tmp_path, file_column="file")
    with pytest.raises(TableError, match="no rows left"):
        load_mask_set(tmp_path, where={"anneal_time_h": 2.0})
    np.save(tmp_path / "m0.npy", np.arange(400).reshape(20, 20) % 3)
    with pytest.raises(ParameterError, match="binary mask"):
        load_mask_set(tmp_path)


@pytest.fixture(scope="module")
def uhcs800():
    if not (UHCS / "samples.csv").is_file():
        pytest.skip(f"UHCS spheroidite masks not found at {UHCS}")
    return load_mask_set(UHCS, where={"anneal_temperature_C": 800})


def test_uhcs_set_and_conditioning(uhcs800):
    ms = uhcs800
    # 19 masks at 800 °C, one a byte copy of another (24H-Q-7 = 24H-Q-1)
    assert ms.dropped == ("800C-24H-Q-7.tif",) and len(ms) == 18
    assert ms.masks.shape[1:] == (475, 645) and set(np.unique(ms.masks)) == {0, 1}
    assert condition_levels(ms.table, "anneal_time_h") == [3.0, 8.0, 24.0, 85.0]
    assert ms.table.groupby("anneal_time_h").size().tolist() == [4, 3, 6, 5]
    # carbide is the minority phase (about 10-25 % of each mask)
    assert 0.08 < ms.masks.mean(axis=(1, 2)).min() and ms.masks.mean(axis=(1, 2)).max() < 0.3
    # the generator sees one categorical condition with the four times as levels
    from semlab.generate.conditioning import fit_conditions
    from semlab.generate.masks import condition_table

    cond, name = condition_table(ms.table, "anneal_time_h", "categorical")
    spec = fit_conditions(cond, [name], kinds={name: "categorical"})
    assert spec.conditions[0].levels == ("3", "8", "24", "85")
    lv, _ = spec.encode_table(cond)
    assert np.array_equal(lv[:, 0], np.searchsorted([3, 8, 24, 85], ms.table["anneal_time_h"]))
    cond, name = condition_table(ms.table, "anneal_time_h", "log10")
    assert name == "log10_anneal_time_h" and math.isclose(cond[name].max(), math.log10(85))
    # tiles use each pixel once: 14 × 20 tiles of 32 px per 475 × 645 mask
    tiles = tile_mask_patches(ms, "anneal_time_h", size=32)
    assert {v: len(t) for v, t in tiles.items()} == {3.0: 4 * 280, 8.0: 3 * 280, 24.0: 6 * 280, 85.0: 5 * 280}


def test_uhcs_real_particles_coarsen_from_3_h(uhcs800):
    """Measured truth of the data: 3 h particles are the finest; the later times are not ordered."""
    ms = uhcs800
    sub = {}
    for v in (3.0, 85.0):
        sel = ms.table["anneal_time_h"] == v
        sub[v] = MaskSet(ms.masks[sel.to_numpy()], ms.table[sel].reset_index(drop=True), ms.folder)
    st = {v: patch_stats(real_mask_patches(s, size=64, per_mask=6, seed=0)[0]) for v, s in sub.items()}
    assert st[85.0].diameters.mean() > 1.5 * st[3.0].diameters.mean()


# ------------------------------------------------------------------ one descriptor for real and generated


def test_mask_particles_measures_known_discs():
    m = _discs((60, 60), 5, 20)  # 9 discs of radius 5, none touching the frame
    per, parts = mask_particles(m[None])
    area = float(m.sum()) / 9
    assert per["n_particles"][0] == 9 == len(parts)
    assert math.isclose(per["area_fraction"][0], m.mean())
    assert np.allclose(parts["equivalent_diameter_px"], 2 * math.sqrt(area / math.pi))
    assert math.isclose(per["mean_diameter_px"][0], 2 * math.sqrt(area / math.pi))


def test_generated_and_real_go_through_the_same_code():
    rng = np.random.default_rng(0)
    real = np.stack([_discs((32, 32), r, 12, o) for r, o in ((2, 0), (3, 1), (4, 2))])
    grey = np.clip(real * 0.8 + 0.1 + rng.normal(0, 0.05, real.shape), 0, 1)  # a generator's output
    fake = binarize(grey)
    assert np.array_equal(fake, real)  # the 0.5 threshold recovers the mask
    a, b = patch_stats(real), patch_stats(fake)
    assert np.array_equal(a.diameters, b.diameters) and np.array_equal(a.area_fraction, b.area_fraction)
    c = compare_mask_patches({1.0: real}, {1.0: fake}, condition="t")
    row = c.summary.iloc[0]
    assert row["wasserstein_diameter"] == 0 and row["ks_diameter"] == 0
    assert row["mean_diameter_real"] == row["mean_diameter_generated"]


def test_compare_ranks_sizes_by_condition():
    real = {t: np.stack([_discs((32, 32), r, 16)] * 2) for t, r in ((1.0, 2), (4.0, 3), (16.0, 5))}
    shrunk = {t: np.stack([_discs((32, 32), r, 16)] * 2) for t, r in ((1.0, 5), (4.0, 3), (16.0, 2))}
    c = compare_mask_patches(real, shrunk, condition="t")
    assert c.spearman_real == pytest.approx(1.0) and c.spearman_generated == pytest.approx(-1.0)
    assert c.spearman_real_vs_generated == pytest.approx(-1.0)
    assert (c.summary["wasserstein_diameter"].iloc[[0, 2]] > 3).all()
    assert c.summary["wasserstein_diameter"].iloc[1] == 0
    d = c.to_dict()
    assert d["threshold"] == 0.5 and len(d["conditions"]) == 3


# ------------------------------------------------------------------ training learns the condition


def _two_condition_set(tmp_path: Path) -> MaskSet:
    """Condition 1: sparse small discs (area fraction ~0.05); condition 10: large discs (~0.45)."""
    fine = [_discs((48, 48), 1.5, 10, o) for o in (0, 3)]
    coarse = [_discs((48, 48), 5, 12, o) for o in (0, 3)]
    _write_set(tmp_path, fine + coarse, [1.0, 1.0, 10.0, 10.0])
    return load_mask_set(tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ddpm", "acwgan"])
def test_tiny_training_separates_conditions(tmp_path, model):
    ms = _two_condition_set(tmp_path)
    real = {v: ms.masks[(ms.table["anneal_time_h"] == v).to_numpy()].mean() for v in (1.0, 10.0)}
    assert real[10.0] - real[1.0] > 0.3
    opts = {"width": 8, "batch_size": 16, "size": 16}
    opts.update({"lr": 2e-3} if model == "ddpm" else {"lr": 1e-3, "n_critic": 2})

    def fractions(steps: int) -> dict[float, float]:
        run = train_mask_generator(ms, "anneal_time_h", model=model, steps=steps, seed=0, **opts)
        return {
            v: float(sample_masks(run.generator, "anneal_time_h", v, 32, seed=1, steps=10).mean())
            for v in (1.0, 10.0)
        }

    before, after = fractions(1), fractions(150 if model == "ddpm" else 120)
    gap_before, gap_after = before[10.0] - before[1.0], after[10.0] - after[1.0]
    # the trained model gives the coarse condition clearly more carbide than the fine one,
    # which the untrained one does not
    assert abs(gap_before) < 0.1
    assert gap_after > 0.15
    # and the sparse condition's carbide level moves toward the real one (untrained: ~0.5 or ~1)
    assert abs(after[1.0] - real[1.0]) < abs(before[1.0] - real[1.0]) - 0.2


def test_log10_encoding_samples_by_value_in_column_units(tmp_path):
    ms = _two_condition_set(tmp_path)
    run = train_mask_generator(
        ms,
        "anneal_time_h",
        model="acwgan",
        encoding="log10",
        size=16,
        steps=1,
        width=8,
        batch_size=4,
        n_critic=1,
    )
    spec = run.generator.spec
    assert spec.columns == ("log10_anneal_time_h",) and spec.conditions[0].kind == "continuous"
    assert math.isclose(spec.conditions[0].mean, 0.5)  # log10 of 1 h and 10 h, two masks each
    m = sample_masks(run.generator, "anneal_time_h", 10.0, 3, seed=0)
    assert m.shape == (3, 16, 16) and m.dtype == np.uint8 and set(np.unique(m)) <= {0, 1}
    with pytest.raises(ParameterError, match="conditioned on log10_anneal_time_h"):
        sample_masks(run.generator, "temperature_C", 800, 1)
    with pytest.raises(ParameterError, match="log10"):
        train_mask_generator(MaskSet(ms.masks, ms.table.assign(anneal_time_h=0.0), ms.folder), "anneal_time_h",
                             encoding="log10", steps=1)  # fmt: skip
