"""semlab.data.sintering: the synthetic sintering series shows its process trend in the pixels,
is not trivially separable, carries an FEI-like data bar, and is reproducible from its seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from skimage.filters import threshold_multiotsu
from skimage.measure import perimeter

from semlab.data import (
    COPPER_CONDUCTIVITY_MS_PER_M,
    FilmSample,
    add_databar,
    expected_porosity,
    film_conductivity,
    nice_scale_bar,
    render_sintered_film,
    sintering_series,
)
from semlab.errors import ParameterError
from semlab.io import read_micrograph

LEVELS = (1, 2, 4, 8)
SHAPE = (256, 256)
COLUMNS = ["image", "sample", "burst_count", "duty_cycle", "porosity", "conductivity_MS_per_m"]


# ----------------------------------------------------------------------------- measurements


def image_porosity(content: np.ndarray) -> float:
    """Pore fraction seen in the pixels: the darkest of three multi-Otsu classes (pore, solid, edge)."""
    return float((content <= threshold_multiotsu(content, 3)[0]).mean())


def pore_specific_perimeter(content: np.ndarray, pixel_size: float) -> float:
    """Perimeter of the dark (multi-Otsu) phase per image area, µm⁻¹: falls as pores and grains coarsen."""
    pores = content <= threshold_multiotsu(content, 3)[0]
    return float(perimeter(pores) / pores.size / pixel_size)


def acf_length(content: np.ndarray, pixel_size: float) -> float:
    """Lag (µm) at which the image's autocorrelation falls to 1/2, along rows and columns."""
    x = content.astype(float) - content.mean()
    ac = np.fft.irfft2(np.abs(np.fft.rfft2(x)) ** 2, s=x.shape)
    prof = (ac[0, :64] + ac[:64, 0]) / (2 * ac[0, 0])
    i = int(np.argmax(prof < 0.5))
    return (i - 1 + (prof[i - 1] - 0.5) / (prof[i - 1] - prof[i])) * pixel_size


def best_threshold_accuracy(a, b) -> float:
    """Accuracy of the best single threshold (either direction) separating values a from b."""
    v = np.r_[a, b]
    y = np.r_[np.zeros(len(a)), np.ones(len(b))]
    return max(max(((v > t) == y).mean(), ((v <= t) == y).mean()) for t in v)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """The default series (4 levels × 3 samples × 2 images) at 256 × 256, read back from disk."""
    out = tmp_path_factory.mktemp("series")
    table = sintering_series(out, shape=SHAPE, seed=0)
    rows = []
    for row in table.itertuples():
        m = read_micrograph(out / row.image)
        content = m.image[: m.metadata["databar_row"]]
        labels = read_micrograph(out / row.labels).image
        rows.append(
            {
                "grey": content.mean(),
                "image_porosity": image_porosity(content),
                "specific_perimeter": pore_specific_perimeter(content, m.pixel_size),
                "label_specific_perimeter": perimeter(labels) / labels.size / m.pixel_size,
                "acf_um": acf_length(content, m.pixel_size),
            }
        )
    measured = pd.concat([table, pd.DataFrame(rows)], axis=1)
    return out, table, measured


def by_level(measured: pd.DataFrame, column: str) -> list[np.ndarray]:
    return [measured.loc[measured.burst_count == b, column].to_numpy() for b in LEVELS]


# ----------------------------------------------------------------------------- process trend


def test_true_porosity_falls_with_burst_count(series):
    _, _, measured = series
    means = measured.groupby("burst_count")["porosity"].mean().loc[list(LEVELS)].to_numpy()
    assert np.all(np.diff(means) < 0), means
    # and it follows the documented model within the sample scatter
    model = [expected_porosity(b) for b in LEVELS]
    assert np.allclose(means, model, atol=0.03), (means, model)


def test_image_shows_the_porosity_trend(series):
    _, _, measured = series
    means = [v.mean() for v in by_level(measured, "image_porosity")]
    assert np.all(np.diff(means) < 0), means
    assert np.corrcoef(measured["porosity"], measured["image_porosity"])[0, 1] > 0.9


def test_grains_and_pores_coarsen(series):
    _, _, measured = series
    truth = [v.mean() for v in by_level(measured, "label_specific_perimeter")]
    assert np.all(np.diff(truth) < 0), truth  # less interface per area: coarser
    acf = [v.mean() for v in by_level(measured, "acf_um")]
    assert acf[-1] > 1.2 * acf[0], acf  # the texture's length scale grows


def test_classes_are_not_trivially_separable(series):
    _, _, measured = series
    grey = by_level(measured, "grey")
    # the operator's brightness/contrast hide the trend from the mean grey value: it does not even
    # tell 1 from 8 bursts and hardly correlates with the exposure ...
    assert best_threshold_accuracy(grey[0], grey[3]) < 1.0
    log_bursts = np.log2(measured["burst_count"])
    assert abs(np.corrcoef(log_bursts, measured["grey"])[0, 1]) < 0.5
    assert abs(np.corrcoef(log_bursts, measured["specific_perimeter"])[0, 1]) > 0.8
    # ... and adjacent levels overlap in true porosity, or nearly: samples scatter and duty cycles
    # shift the exposure, so every gap between the ranges of adjacent levels is small next to the
    # step between their means, and at least one pair overlaps
    phi = by_level(measured, "porosity")
    gaps = [hi.min() - lo.max() for hi, lo in zip(phi[:-1], phi[1:], strict=True)]
    steps = [hi.mean() - lo.mean() for hi, lo in zip(phi[:-1], phi[1:], strict=True)]
    assert min(gaps) < 0, gaps
    assert all(g < 0.5 * s for g, s in zip(gaps, steps, strict=True)), (gaps, steps)


def test_texture_separates_the_extremes(series):
    _, _, measured = series
    sp = by_level(measured, "specific_perimeter")
    assert sp[0].min() > sp[3].max(), (sp[0], sp[3])


def test_pores_are_dark_and_edges_bright():
    m = render_sintered_film(2, shape=SHAPE, rng=3)
    content = m.content.astype(float)
    solid = m.labels == 0
    assert content[~solid].mean() < 0.6 * content[solid].mean()
    # secondary-electron edge effect: solid pixels at the pore boundary outshine the interior
    rim = solid & ~ndimage.binary_erosion(solid)
    interior = ndimage.binary_erosion(solid, iterations=3)
    assert content[rim].mean() > content[interior].mean()


def test_render_result_is_consistent():
    m = render_sintered_film(4, shape=(128, 160), rng=1, databar=False)
    assert m.image.shape == m.labels.shape == (128, 160)
    assert m.databar_row is None
    assert m.labels.dtype == np.uint8 and set(np.unique(m.labels)) <= {0, 1}
    assert m.porosity == pytest.approx(m.labels.mean())
    assert m.params["burst_count"] == 4 and m.to_dict()["pixel_size_um"] == 0.008


def test_duty_cycle_sinters_further():
    sample = FilmSample()
    low = [
        render_sintered_film(2, shape=(128, 128), duty_cycle=0.2, rng=s, sample=sample).porosity
        for s in range(3)
    ]
    high = [
        render_sintered_film(2, shape=(128, 128), duty_cycle=0.9, rng=s, sample=sample).porosity
        for s in range(3)
    ]
    assert np.mean(high) < np.mean(low) - 0.03


# ----------------------------------------------------------------------------- data bar


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_databar_is_fei_like(dtype):
    m = render_sintered_film(1, shape=(300, 280), rng=2, dtype=dtype)
    top = np.iinfo(dtype).max
    row = m.databar_row
    assert row == m.labels.shape[0] == m.content.shape[0]
    assert np.all(m.image[row] == top)  # the full-width bright line
    assert m.content.max() < top  # nothing above it reaches bar white
    bar = m.image[row + 1 : -1]
    assert 0.05 <= (m.image.shape[0] - row) / m.image.shape[0] <= 0.09
    assert (bar == 0).mean() > 0.6 and (bar == top).mean() > 0.05  # black band, white text
    assert set(np.unique(bar)) <= {0, top}
    # the scale bar: the longest white horizontal run inside the band
    runs = [_longest_run(r == top) for r in bar[:, :-1]]
    assert max(runs) == m.params["scale_bar_px"]
    assert m.params["scale_bar_px"] == round(m.params["scale_bar_um"] / m.pixel_size)
    assert m.params["scale_bar_um"] in (0.1, 0.2, 0.5, 1.0)


def _longest_run(mask: np.ndarray) -> int:
    padded = np.r_[0, mask.astype(np.int8), 0]
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
@pytest.mark.parametrize("shape", [(64, 64), (256, 256), (200, 640)])
def test_preprocess_finds_the_bar(shape, dtype):
    preprocess = pytest.importorskip("semlab.preprocess")
    if not hasattr(preprocess, "find_databar"):
        pytest.skip("semlab.preprocess.find_databar is not available")
    m = render_sintered_film(8, shape=shape, rng=4, dtype=dtype)
    assert preprocess.find_databar(m.image) == m.databar_row
    plain = render_sintered_film(8, shape=shape, rng=4, dtype=dtype, databar=False)
    assert preprocess.find_databar(plain.image) is None


def test_add_databar_without_pixel_size():
    content = np.full((100, 120), 77, dtype=np.uint8)
    image, row, info = add_databar(content)
    assert row == 100 and image.shape[1] == 120 and np.all(image[100] == 255)
    assert np.array_equal(image[:100], content) and info["scale_bar_um"] is None


@pytest.mark.parametrize(("limit", "nice"), [(0.9, 0.5), (1.02, 1.0), (3.0, 2.0), (7.9, 5.0), (0.05, 0.05)])
def test_nice_scale_bar(limit, nice):
    assert nice_scale_bar(limit) == pytest.approx(nice)


# ----------------------------------------------------------------------------- files and table


def test_table_and_files(series):
    out, table, _ = series
    assert list(table.columns[: len(COLUMNS)]) == COLUMNS
    assert len(table) == len(LEVELS) * 3 * 2
    assert table["burst_count"].dtype == np.int64 and table["duty_cycle"].dtype == np.float64
    assert table["sample"].str.fullmatch(r"S\d{2}").all() and table["sample"].nunique() == 12
    assert (table.groupby("sample")["burst_count"].nunique() == 1).all()
    assert set(table["duty_cycle"]) == {0.3, 0.5, 0.7}
    for rel in list(table["image"]) + list(table["labels"]):
        assert (out / rel).is_file()
    on_disk = pd.read_csv(out / "descriptors.csv")
    pd.testing.assert_frame_equal(on_disk, table, check_dtype=False)
    # conductivity: Bruggeman law times one ~3 % factor per sample
    factor = table["conductivity_MS_per_m"] / film_conductivity(table["porosity"].to_numpy())
    assert factor.between(0.88, 1.12).all()
    assert (table.assign(f=factor).groupby("sample")["f"].agg(np.ptp) < 1e-3).all()


def test_tiff_round_trip(series):
    out, table, _ = series
    row = table.iloc[5]
    m = read_micrograph(out / row["image"])
    assert m.pixel_size == pytest.approx(0.008, rel=1e-9)
    bar = m.metadata["databar_row"]
    assert isinstance(bar, int) and 0.85 * SHAPE[0] < bar < SHAPE[0]
    assert m.metadata["sample"] == row["sample"] and m.metadata["burst_count"] == row["burst_count"]
    assert m.image.dtype == np.uint8 and m.image.shape == SHAPE
    assert np.all(m.image[bar] == 255)
    labels = read_micrograph(out / row["labels"])
    assert labels.image.shape == (bar, SHAPE[1])
    assert labels.image.mean() == pytest.approx(row["porosity"], abs=1e-6)


def test_uint16_series_round_trip(tmp_path):
    table = sintering_series(
        tmp_path,
        burst_counts=(3,),
        samples_per_level=1,
        images_per_sample=1,
        shape=(96, 128),
        pixel_size=0.0065,
        dtype="uint16",
        write_labels=False,
    )
    m = read_micrograph(tmp_path / table.loc[0, "image"])
    assert m.image.dtype == np.uint16 and m.pixel_size == pytest.approx(0.0065, rel=1e-9)
    assert np.all(m.image[m.metadata["databar_row"]] == 65535)
    assert not (tmp_path / "labels").exists() and table.loc[0, "labels"] == ""


# ----------------------------------------------------------------------------- determinism


def _small_series(out, seed, levels=(1, 8)):
    return sintering_series(
        out, burst_counts=levels, samples_per_level=1, images_per_sample=2, shape=(96, 96), seed=seed
    )


def test_same_seed_same_bytes(tmp_path):
    _small_series(tmp_path / "a", 7)
    _small_series(tmp_path / "b", 7)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 1 + 4 + 4
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_different_seed_differs(tmp_path):
    a = _small_series(tmp_path / "a", 7)
    _small_series(tmp_path / "b", 8)
    img_a = read_micrograph(tmp_path / "a" / a.loc[0, "image"]).image
    img_b = read_micrograph(tmp_path / "b" / a.loc[0, "image"]).image
    assert not np.array_equal(img_a, img_b)
    assert not np.array_equal(
        render_sintered_film(1, shape=(96, 96), rng=1).image,
        render_sintered_film(1, shape=(96, 96), rng=2).image,
    )
    assert np.array_equal(
        render_sintered_film(1, shape=(96, 96), rng=1).image,
        render_sintered_film(1, shape=(96, 96), rng=1).image,
    )


def test_images_do_not_depend_on_the_other_levels(tmp_path):
    both = _small_series(tmp_path / "a", 3, levels=(1, 8))
    alone = _small_series(tmp_path / "b", 3, levels=(8,))
    img_both = read_micrograph(tmp_path / "a" / both.loc[both.burst_count == 8, "image"].iloc[0]).image
    img_alone = read_micrograph(tmp_path / "b" / alone.loc[0, "image"]).image
    assert np.array_equal(img_both, img_alone)


# ----------------------------------------------------------------------------- validation and properties


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"burst_count": 0}, "burst_count"),
        ({"burst_count": -2}, "burst_count"),
        ({"burst_count": 1.5}, "burst_count"),
        ({"burst_count": True}, "burst_count"),
        ({"shape": (63, 256)}, "shape"),
        ({"shape": (256,)}, "shape"),
        ({"dtype": "float32"}, "dtype"),
        ({"duty_cycle": 0.0}, "duty_cycle"),
        ({"pixel_size": -0.008}, "pixel_size"),
        ({"pixel_size": 0.5}, "pixel_size"),
    ],
)
def test_render_rejects_bad_parameters(kwargs, name):
    args = {"burst_count": 1, "shape": (64, 64), **kwargs}
    with pytest.raises(ParameterError, match=name) as info:
        render_sintered_film(args.pop("burst_count"), **args)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"burst_counts": (1, 0)}, "burst_counts"),
        ({"burst_counts": ()}, "burst_counts"),
        ({"burst_counts": (2, 2)}, "burst_counts"),
        ({"samples_per_level": 0}, "samples_per_level"),
        ({"images_per_sample": 0}, "images_per_sample"),
        ({"shape": (32, 32)}, "shape"),
        ({"dtype": "int8"}, "dtype"),
        ({"seed": -1}, "seed"),
        ({"duty_cycles": (0.5, 2.0)}, "duty_cycles"),
    ],
)
def test_series_rejects_bad_parameters(tmp_path, kwargs, name):
    with pytest.raises(ParameterError, match=name):
        sintering_series(tmp_path, **kwargs)
    assert not (tmp_path / "descriptors.csv").exists()


def test_film_conductivity():
    assert film_conductivity(0.0) == COPPER_CONDUCTIVITY_MS_PER_M == 59.6
    assert film_conductivity(0.36) == pytest.approx(59.6 * 0.64**1.5)
    assert np.all(np.diff(film_conductivity(np.linspace(0, 1, 5))) < 0)
    with pytest.raises(ParameterError, match="porosity"):
        film_conductivity(1.2)
