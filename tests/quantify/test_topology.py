"""Persistence diagrams, persistence images and area fractions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.quantify import (
    area_fractions,
    common_ranges,
    condition_value_ranges,
    persistence_diagram,
    persistence_image,
)


def ring(n=80, radius=20.0, half_width=2.0, center=(40.3, 40.2)):
    rr, cc = np.mgrid[:n, :n]
    d = np.hypot(rr - center[0], cc - center[1])
    return np.abs(d - radius) <= half_width


def test_grey_circle_has_one_h1_bar_from_0_to_1():
    img = np.where(ring(), 0.0, 1.0)
    d = persistence_diagram(img)
    h1 = d[d.dim == 1]
    assert len(h1) == 1
    assert h1.birth.iloc[0] == 0.0 and h1.death.iloc[0] == 1.0
    h0 = d[d.dim == 0]
    assert len(h0) == 1 and h0.essential.iloc[0] and np.isinf(h0.death.iloc[0])
    assert d.attrs["value_unit"] == "grey"


def test_label_ring_h1_bar_dies_at_the_hole_radius_in_um():
    r_in = 20.0 - 2.0
    labels = ring().astype(np.uint8)
    for px in (1.0, 0.5):
        d = persistence_diagram(labels, phase=1, pixel_size=px)
        h1 = d[d.dim == 1].sort_values("persistence", ascending=False)
        top = h1.iloc[0]
        # born inside the ring wall (negative depth), dies when the hole's centre fills
        assert top.birth < 0
        assert top.death == pytest.approx(r_in * px, abs=1.0 * px)
        assert (h1.persistence.iloc[1:] < 0.2 * top.persistence).all()
        assert d.attrs["value_unit"] == "µm"


def test_persistence_image_shape_ranges_weighting_and_infinite_bars():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64))
    d = persistence_diagram(img)
    pi = persistence_image(d, dim=0)  # H0 has one infinite bar
    assert pi.image.shape == (10, 10)
    assert pi.n_infinite == 1 and pi.infinite == "drop"
    assert pi.n_points == int(((d.dim == 0) & ~d.essential).sum())
    assert pi.birth_edges[0] == pytest.approx(d[(d.dim == 0) & ~d.essential].birth.min())
    # linear weighting: a bar's mass is its persistence / top of the range
    one = d[(d.dim == 1)].iloc[:1].copy()
    one["birth"], one["persistence"] = 0.5, 0.25
    p1 = persistence_image(one, birth_range=(0, 1), persistence_range=(0, 1), sigma=0.01, resolution=(4, 5))
    assert p1.image.shape == (4, 5)
    assert p1.image.sum() == pytest.approx(0.25, rel=1e-6)
    assert p1.image[1, 2] == pytest.approx(0.25 / 2, rel=1e-3)  # on the edge p=0.25 between rows 0 and 1
    clipped = persistence_image(d, dim=0, infinite="clip", persistence_range=(0, 1.0), birth_range=(0, 1))
    dropped = persistence_image(d, dim=0, persistence_range=(0, 1.0), birth_range=(0, 1))
    assert clipped.image.sum() > dropped.image.sum()
    assert len(pi.to_dict()) == 100 and "pi_h0_p0_b0" in pi.to_dict()


def test_common_ranges_cover_all_diagrams():
    rng = np.random.default_rng(1)
    ds = [persistence_diagram(rng.random((32, 32)) * s) for s in (1.0, 3.0)]
    br, pr = common_ranges(ds, dim=1)
    for d in ds:
        f = d[(d.dim == 1)]
        assert br[0] <= f.birth.min() and f.birth.max() <= br[1]
        assert f.persistence.max() <= pr[1]


def test_area_fractions_of_a_ramp():
    ramp = np.tile(np.arange(100, dtype=float), (10, 1))  # values 0..99
    af = area_fractions(ramp)
    assert af.threshold.tolist() == pytest.approx([0.05 + 0.1 * k for k in range(10)])
    expected = [math.floor(0.05 * 99 + 0.1 * k * 99) + 1 for k in range(10)]
    assert (af.area_fraction * 100).round().tolist() == expected
    scaled = area_fractions(ramp, value_range=(0, 198))  # per-condition range twice as wide
    assert scaled.area_fraction.iloc[4] == pytest.approx(0.90)  # values <= 0.45 * 198 = 89.1
    assert scaled.area_fraction.iloc[-1] == 1.0
    ranges = condition_value_ranges([ramp, ramp * 2, ramp], ["a", "b", "a"])
    assert ranges == {"a": (0.0, 99.0), "b": (0.0, 198.0)}


def test_bad_topology_input():
    with pytest.raises(ParameterError, match="maxdim"):
        persistence_diagram(np.zeros((8, 8)), maxdim=2)
    with pytest.raises(ParameterError, match="NaN"):
        persistence_diagram(np.full((8, 8), np.nan))
    with pytest.raises(ParameterError, match="constant"):
        area_fractions(np.zeros((8, 8)))
    with pytest.raises(ParameterError, match="weighting"):
        persistence_image(persistence_diagram(np.eye(8)), weighting="cubic")
