"""The downsampled persistence path keeps the topology it promises, and the exact path's
signed distance has no float-noise bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semlab.errors import ParameterError
from semlab.quantify import persistence_diagram

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
UHCS = DATA / "uhcs-spheroidite"
NANOWIRES = DATA / "nanowires-deepsem"


def blobs_with_holes(n=300):
    """Three separate square blobs of the phase; the big one has five round holes."""
    rr, cc = np.mgrid[:n, :n]
    lab = np.zeros((n, n), np.uint8)
    lab[20:200, 20:280] = 1
    for r0, c0 in [(60, 60), (60, 150), (60, 240), (150, 90), (150, 200)]:
        lab[np.hypot(rr - r0, cc - c0) <= 14] = 0
    lab[230:280, 20:90] = 1
    lab[230:285, 150:270] = 1
    return lab


def betti_across_boundary(d, dim, bound, margin=1.0):
    """Classes alive from below -b to above +b (b = 2 bound + margin): the phase's own
    components (dim 0) and holes (dim 1), the level 0 being the phase boundary."""
    b = 2 * bound + margin
    sel = d[d.dim == dim]
    return int(((sel.birth < -b) & (sel.death > b)).sum())


@pytest.mark.parametrize("k", [1, 2, 3])
def test_betti_counts_survive_downsampling(k):
    d = persistence_diagram(blobs_with_holes(), phase=1, downsample=k)
    bound = d.attrs["bottleneck_bound"]
    assert d.attrs["persistence_scale"] == k
    assert (bound == 0.0) if k == 1 else (0 < bound <= 1.5 * k)  # signed distance: ~√2 k px
    assert betti_across_boundary(d, 1, bound) == 5  # the five holes
    assert betti_across_boundary(d, 0, bound) == 3  # three blobs (one of them the essential class)
    assert int(d.essential.sum()) == 1
    # the largest hole (radius 14 px) dies near its radius, within the bound
    assert d[d.dim == 1].death.max() == pytest.approx(14.0, abs=1.0 + bound)


def test_exact_signed_distance_has_no_float_noise_bars():
    d = persistence_diagram(blobs_with_holes(), phase=1, pixel_size=0.01)
    finite = d[~d.essential]
    assert (finite.persistence > 1e-9).all()  # equal distances tie exactly (pixel units, scaled)
    assert d.attrs["value_unit"] == "µm"


def test_downsampled_locations_hold_the_reported_values():
    rng = np.random.default_rng(3)
    from scipy import ndimage as ndi

    img = ndi.gaussian_filter(rng.random((123, 97)), 3)
    d = persistence_diagram(img, downsample=3)
    assert np.array_equal(img[d.birth_row, d.birth_col], d.birth.to_numpy())
    fin = d[~d.essential]
    assert np.array_equal(img[fin.death_row, fin.death_col], fin.death.to_numpy())
    assert (d[d.essential].death_row == -1).all()
    with pytest.raises(ParameterError, match="downsample"):
        persistence_diagram(img, downsample=0)


def _count_bound_holds(exact, fast, bound):
    """A bottleneck distance <= bound implies, for every t and dimension, that the bars
    longer than t + 2*bound in one diagram are no more than those longer than t in the other."""
    for dim in (0, 1):
        pe = exact[(exact.dim == dim) & ~exact.essential].persistence.to_numpy()
        pf = fast[(fast.dim == dim) & ~fast.essential].persistence.to_numpy()
        top = max(pe.max(initial=0), pf.max(initial=0))
        for t in np.linspace(0, top, 60):
            assert (pe > t + 2 * bound + 1e-12).sum() <= (pf > t).sum()
            assert (pf > t + 2 * bound + 1e-12).sum() <= (pe > t).sum()
        if len(pe) and pe.max() > 2 * bound:  # the longest bar is kept within the bound
            assert abs(pf.max() - pe.max()) <= 2 * bound + 1e-12


def test_error_bound_holds_on_real_masks():
    files = sorted(UHCS.glob("*.tif"))[:3] if UHCS.is_dir() else []
    if not files:
        pytest.skip(f"real spheroidite masks not found in {UHCS}")
    from semlab.segment import read_labels

    for f in files:
        lab = read_labels(f).labels
        exact = persistence_diagram(lab, phase=1)
        for k in (2, 3):
            fast = persistence_diagram(lab, phase=1, downsample=k)
            _count_bound_holds(exact, fast, fast.attrs["bottleneck_bound"])


def test_error_bound_holds_on_a_real_sem_grey_image():
    files = sorted((NANOWIRES / "images").glob("*.png")) if NANOWIRES.is_dir() else []
    if not files:
        pytest.skip(f"real SEM images not found in {NANOWIRES}")
    from semlab.io import read_micrograph

    img = np.asarray(read_micrograph(files[0]).image, dtype=np.float64)[:256, :320]
    exact = persistence_diagram(img)
    fast = persistence_diagram(img, downsample=2)
    bound = fast.attrs["bottleneck_bound"]
    assert 0 < bound <= float(np.ptp(img))
    _count_bound_holds(exact, fast, bound)


@pytest.mark.parametrize("shape", [(2, 2), (2, 17), (40, 50), (61, 33)])
def test_two_thread_duality_path_gives_cripsers_diagram(shape):
    import cripser

    from semlab.quantify.topology import _pairs_2d

    rng = np.random.default_rng(sum(shape))
    for f in (rng.random(shape), np.round(rng.random(shape) * 4)):  # generic values and many ties
        ref = np.asarray(cripser.computePH(f, maxdim=1))
        new = _pairs_2d(f)
        for dim in (0, 1):
            a = sorted(map(tuple, ref[ref[:, 0] == dim][:, 1:3]))
            b = sorted(map(tuple, new[new[:, 0] == dim][:, 1:3]))
            assert a == b
        assert np.array_equal(f[new[:, 3].astype(int), new[:, 4].astype(int)], new[:, 1])
        fin = new[new[:, 2] < 1e300]
        assert np.array_equal(f[fin[:, 6].astype(int), fin[:, 7].astype(int)], fin[:, 2])
