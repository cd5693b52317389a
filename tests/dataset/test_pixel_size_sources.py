"""Where an added image's pixel size comes from: metadata, field width, scale bar, or unknown.

Real vendor files in ../shared/data/sem-metadata (skipped when absent).  The scale-bar labels
below were read off the images by eye (semlab does no OCR): FEI "500 µm", Zeiss 1k "200 µm",
Zeiss 512 px "200 nm".
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from semlab.cli import main
from semlab.dataset import Workspace
from semlab.io import read_micrograph, write_micrograph

LABELS_UM = {
    "FEI-Helios-Ebeam-8bits.tif": 500.0,
    "test_tiff_Zeiss_SEM_1k.tif": 200.0,
    "test_tiff_Zeiss_SEM_512pix.tif": 0.2,
}


@pytest.fixture(scope="module")
def vendor_ws(tmp_path_factory, sem_dir):
    ws = Workspace.init(tmp_path_factory.mktemp("vendor") / "ws")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the navcam file's unparseable floats
        ws.add(sorted(sem_dir.glob("*.tif")))
    return ws


def test_sources_of_the_shared_vendor_files(vendor_ws):
    t = vendor_ws.table().set_index("original_name")
    src = t["pixel_size_source"].to_dict()
    assert src["FEI-Helios-Ebeam-8bits.tif"] == "fei" and src["test_tiff_Zeiss_SEM_1k.tif"] == "zeiss"
    assert src["imagej_scaled.tif"] == "imagej"
    assert src["FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif"] == "unknown"
    assert np.isnan(t.loc["FEI-Helios-navcam-with-no-IRBeam-bad-floats.tif", "pixel_size_um"])
    # the Zeiss 512 px file has no pixel-size tag; its field width (ap_width 5.965 µm) / 512 px
    assert src["test_tiff_Zeiss_SEM_512pix.tif"] == "field_width"
    assert t.loc["test_tiff_Zeiss_SEM_512pix.tif", "pixel_size_um"] == pytest.approx(5.965 / 512)
    # field width / width reproduces the tagged pixel size where both exist (Zeiss 1k, multipage)
    for name in ("test_tiff_Zeiss_SEM_1k.tif", "ZEISS_SEM_multipage.tif"):
        rec = vendor_ws.find(name)
        hfw = rec.metadata["horizontal_field_width_um"]
        assert hfw / rec.shape[1] == pytest.approx(rec.pixel_size_um, rel=2e-3), name


@pytest.mark.parametrize("name", sorted(LABELS_UM))
def test_scale_bar_gives_the_pixel_size_of_a_file_without_metadata(sem_dir, tmp_path, name):
    """The pixels alone (metadata stripped): data bar detected, bar measured, label given."""
    m = read_micrograph(sem_dir / name)
    bare = tmp_path / f"bare-{name}"
    write_micrograph(bare, m.image, pixel_size=None)
    ws = Workspace.init(tmp_path / "ws")
    ws.add([bare], scale_bar_um=LABELS_UM[name])
    rec = ws.find(bare.name)
    assert rec.pixel_size_source == "scale_bar"
    truth = m.pixel_size or m.metadata["horizontal_field_width_um"] / m.image.shape[1]
    assert rec.pixel_size_um == pytest.approx(truth, rel=0.05)  # measured: -1.8 %, -1.9 %, -4.6 %
    bar = rec.metadata["scale_bar"]
    assert bar["label_um"] == LABELS_UM[name] and bar["length_px"] * rec.pixel_size_um == pytest.approx(
        LABELS_UM[name]
    )
    # without a label the bar is measured and recorded, the pixel size stays unknown
    ws2 = Workspace.init(tmp_path / "ws2")
    ws2.add([bare])
    rec2 = ws2.find(bare.name)
    assert rec2.pixel_size_um is None and rec2.metadata["scale_bar"]["length_px"] == bar["length_px"]


def test_cli_scale_bar_label_and_unknown_note(sem_dir, tmp_path, capsys):
    m = read_micrograph(sem_dir / "test_tiff_Zeiss_SEM_1k.tif")
    bare = tmp_path / "zeiss-bare.tif"
    write_micrograph(bare, m.image, pixel_size=None)
    ws = tmp_path / "ws"
    assert main(["init", str(ws)]) == 0
    assert main(["add", str(ws), str(bare), "-q"]) == 0
    err = capsys.readouterr().err
    assert "1 image(s) have no pixel size" in err and "set-pixel-size" in err
    ws2 = tmp_path / "ws2"
    assert main(["init", str(ws2)]) == 0
    assert main(["add", str(ws2), str(bare), "-q", "--scale-bar", "200 µm"]) == 0
    assert "no pixel size" not in capsys.readouterr().err
    assert Workspace.open(ws2).find(bare.name).pixel_size_um == pytest.approx(200 / 78)
    assert main(["add", str(ws2), str(bare), "--scale-bar", "HFW"]) == 2
    assert "--scale-bar 'HFW'" in capsys.readouterr().err
