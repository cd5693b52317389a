"""``semlab quantify``: label images → one table row per image, joined with the descriptor table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from semlab.cli import main
from semlab.io import write_micrograph


def _disks(radius: int, n: int = 128) -> np.ndarray:
    rr, cc = np.mgrid[:n, :n]
    img = np.zeros((n, n), np.uint8)
    for r0, c0 in ((32, 32), (32, 96), (96, 32), (96, 96)):
        img[(rr - r0) ** 2 + (cc - c0) ** 2 <= radius**2] = 1
    return img


@pytest.fixture
def series(tmp_path):
    labels = tmp_path / "labels"
    labels.mkdir()
    for k, radius in enumerate((8, 12, 16)):
        write_micrograph(labels / f"s{k}_0.tif", _disks(radius), pixel_size=0.05)
    pd.DataFrame(
        {
            "image": [f"images/s{k}_0.tif" for k in range(3)],
            "sample": [f"S{k}" for k in range(3)],
            "anneal_time_h": [1.0, 4.0, 16.0],
            "hardness_hv": [300.0, 280.0, 250.0],
        }
    ).to_csv(tmp_path / "descriptors.csv", index=False)
    return tmp_path


def test_quantify_writes_parquet_joined_with_table(series, capsys):
    out = series / "q.parquet"
    rc = main(["quantify", str(series / "labels"), "--table", str(series / "descriptors.csv"),
               "--out", str(out), "--csv"])  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out)
    assert df["image"].tolist() == ["s0_0.tif", "s1_0.tif", "s2_0.tif"]
    assert df.columns[:2].tolist() == ["image", "sample"]
    assert df["sample"].tolist() == ["S0", "S1", "S2"]
    assert df["anneal_time_h"].tolist() == [1.0, 4.0, 16.0]
    # pixel size from the files: lengths in µm
    assert df["pixel_size_um"].tolist() == pytest.approx([0.05] * 3)
    for k, radius in enumerate((8, 12, 16)):
        assert df["mean_equivalent_diameter_um"].iloc[k] == pytest.approx(2 * radius * 0.05, rel=0.03)
    assert df["phase_fraction"].is_monotonic_increasing
    assert (series / "q.csv").is_file()
    assert "lengths in µm" in capsys.readouterr().out


def test_pixel_size_override_and_csv_out(series):
    out = series / "q.csv"
    assert (
        main(["quantify", str(series / "labels" / "s1_0.tif"), "--pixel-size", "0.1", "--out", str(out)]) == 0
    )
    df = pd.read_csv(out)
    assert df["mean_equivalent_diameter_um"].iloc[0] == pytest.approx(2.4, rel=0.03)


def test_grey_input_needs_threshold(tmp_path, capsys):
    rng = np.random.default_rng(0)
    grey = (_disks(12) * 150 + 50 + rng.normal(0, 10, (128, 128))).clip(0, 255).astype(np.uint8)
    np.save(tmp_path / "grey.npy", grey)
    rc = main(["quantify", str(tmp_path / "grey.npy"), "--out", str(tmp_path / "g.parquet")])
    err = capsys.readouterr().err
    assert rc == 2 and "grey image" in err and "--threshold otsu" in err
    assert len(err.strip().splitlines()) == 1
    rc = main(
        ["quantify", str(tmp_path / "grey.npy"), "--threshold", "otsu", "--out", str(tmp_path / "g.parquet")]
    )
    assert rc == 0
    df = pd.read_parquet(tmp_path / "g.parquet")
    assert df["length_unit"].iloc[0] == "px"
    assert df["phase_fraction"].iloc[0] == pytest.approx(_disks(12).mean(), abs=0.002)


@pytest.mark.filterwarnings("ignore:phase=1 does not reach")
def test_volume_with_plots_and_topology(tmp_path):
    n = 32
    z, y, x = np.mgrid[:n, :n, :n]
    vol = ((y - 16.3) ** 2 + (x - 15.8) ** 2 <= 36).astype(np.uint8)  # a rod along axis 0
    np.save(tmp_path / "rod.npy", vol)
    out = tmp_path / "v.parquet"
    rc = main(["quantify", str(tmp_path / "rod.npy"), "--3d", "--pixel-size", "0.5", "--out", str(out),
               "--plots", str(tmp_path / "plots")])  # fmt: skip
    assert rc == 0
    df = pd.read_parquet(out)
    assert df["tortuosity_axis0"].iloc[0] == pytest.approx(1.0)
    assert math.isnan(df["tortuosity_axis1"].iloc[0])
    assert df["strut_diameter_mean_um"].iloc[0] == pytest.approx(6.0, rel=0.1)
    assert (tmp_path / "plots" / "curvature_density.png").stat().st_size > 1000
    rc = main(["quantify", str(tmp_path / "rod.npy"), "--3d", "--topology", "--out", str(out)])
    assert rc == 0 and "n_bars_h1" in pd.read_parquet(out).columns


def test_2d_plots_and_persistence_image(series):
    plots = series / "plots"
    rc = main(["quantify", str(series / "labels"), "--topology", "--plots", str(plots),
               "--out", str(series / "t.parquet")])  # fmt: skip
    assert rc == 0
    assert (plots / "size_histogram.png").is_file()
    assert (plots / "persistence_image_mean.png").is_file()
    df = pd.read_parquet(series / "t.parquet")
    assert len([c for c in df.columns if c.startswith("pi_h1_")]) == 100


def test_missing_input_is_one_line_error(tmp_path, capsys):
    rc = main(["quantify", str(tmp_path / "nope.tif"), "--out", str(tmp_path / "x.parquet")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.tif" in err and len(err.strip().splitlines()) == 1


def test_connectivity_option_is_used_and_stored(tmp_path, capsys):
    img = np.zeros((12, 12), np.uint8)
    img[2:5, 2:5] = 1
    img[5:8, 5:8] = 1  # touches the first square at a corner only
    write_micrograph(tmp_path / "pair.tif", img)
    for conn, n in (("4", 2), ("8", 1)):
        out = tmp_path / f"q{conn}.csv"
        assert main(["quantify", str(tmp_path / "pair.tif"), "--connectivity", conn, "--out", str(out)]) == 0
        df = pd.read_csv(out)
        assert df["connectivity"].tolist() == [int(conn)] and df["n_particles"].tolist() == [n]
    assert main(["quantify", str(tmp_path / "pair.tif"), "--out", str(tmp_path / "d.csv")]) == 0
    assert pd.read_csv(tmp_path / "d.csv")["connectivity"].tolist() == [8]  # the default
    capsys.readouterr()
    assert main(["quantify", str(tmp_path / "pair.tif"), "--connectivity", "6", "--out", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err
    assert "connectivity=6 must be 4" in err and len(err.strip().splitlines()) == 1
