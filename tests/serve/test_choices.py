"""Per-upload method and phase choice, named phases, label/particle downloads, colour key,
scale bar on previews, image checks, and the choice of trained model (FastAPI TestClient)."""

from __future__ import annotations

import csv
import io
import json
import re

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

LOCAL = "http://127.0.0.1"  # a Host the app accepts (other names get 400)

from semlab.serve import create_app  # noqa: E402

PIXEL_SIZE = 0.01  # µm
SHAPE = (240, 320)
CENTRES = [(40 + 50 * i, 40 + 60 * j) for i in range(4) for j in range(5)]  # 20 separate disks
RADIUS = 12


def _disks(bright: bool = True) -> np.ndarray:
    """20 separate disks (bright on dark, or dark on bright) away from the border, some noise."""
    rr, cc = np.mgrid[: SHAPE[0], : SHAPE[1]]
    inside = np.zeros(SHAPE, bool)
    for r, c in CENTRES:
        inside |= (rr - r) ** 2 + (cc - c) ** 2 <= RADIUS**2
    rng = np.random.default_rng(0)
    fg, bg = (200.0, 50.0) if bright else (50.0, 200.0)
    image = np.where(inside, fg, bg) + rng.normal(0, 6, SHAPE)
    return np.clip(image, 0, 255).astype(np.uint8), inside


def _tiff(image: np.ndarray, pixel_size: float | None = PIXEL_SIZE) -> bytes:
    import tifffile

    buf = io.BytesIO()
    if pixel_size:
        kw = {"resolution": (1 / pixel_size, 1 / pixel_size), "imagej": True, "metadata": {"unit": "micron"}}
        tifffile.imwrite(buf, image, **kw)
    else:
        tifffile.imwrite(buf, image)
    return buf.getvalue()


def _upload(client, name, data, tasks="segment,quantify", **options):
    return client.post("/api/uploads", files={"file": (name, data)}, data={"tasks": tasks, **options})


def _jobs(client, upload):
    assert client.app.state.runner.wait_idle(120)
    jobs = {j["task"]: j for j in client.get(f"/api/uploads/{upload['id']}").json()["jobs"]}
    for j in jobs.values():
        assert j["status"] == "done", j["error"]
    return jobs


@pytest.fixture
def client(workspace):
    with TestClient(create_app(workspace, segment_method="otsu"), base_url=LOCAL) as c:
        yield c


def test_chosen_phase_is_named_measured_and_downloadable(client):
    import tifffile

    image, inside = _disks(bright=True)
    up = _upload(client, "disks.tif", _tiff(image), method="otsu", foreground="bright", phase="particles")
    assert up.status_code == 201, up.text
    assert up.json()["options"] == {"method": "otsu", "foreground": "bright", "phase": "particles"}
    jobs = _jobs(client, up.json())
    seg, quant = jobs["segment"]["result"], jobs["quantify"]["result"]
    assert seg["phase"] == quant["phase"] == "particles"
    assert seg["foreground"]["requested"] == "bright" and seg["foreground"]["chosen"] == "bright"
    assert seg["phase_fraction"] == pytest.approx(inside.mean(), abs=0.01)
    assert quant["descriptors"]["phase_fraction"] == pytest.approx(seg["phase_fraction"])

    # labels TIFF: the upload's shape, the particles exactly where the disks are, class names inside
    r = client.get(f"/api/jobs/{jobs['segment']['id']}/labels.tif")
    assert r.status_code == 200 and r.headers["content-type"] == "image/tiff"
    with tifffile.TiffFile(io.BytesIO(r.content)) as tif:
        labels = tif.asarray()
        described = json.loads(tif.pages[0].description)["semlab_labels"]
    assert labels.shape == SHAPE
    measured = np.isin(labels, described["measured"])
    assert (measured == inside).mean() > 0.99
    assert described["phase"] == "particles"
    assert "particles" in described["classes"].values()
    assert json.loads(r.headers["x-semlab-classes"]) == seg["classes"]

    # per-particle table: one row per disk, areas in µm² near the disk area
    r = client.get(f"/api/jobs/{jobs['quantify']['id']}/particles.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(CENTRES) == quant["particles"]["n_particles"]
    area_col = next(c for c in rows[0] if c.startswith("area") and c.endswith("um2"))
    disk_area = inside.sum() / len(CENTRES) * PIXEL_SIZE**2
    assert np.median([float(r[area_col]) for r in rows]) == pytest.approx(disk_area, rel=0.1)

    # the overlay carries a colour key below the panels; the result lists the key's colours
    from PIL import Image

    png = Image.open(io.BytesIO(client.get(f"/api/jobs/{jobs['segment']['id']}/overlay.png").content))
    assert png.height > SHAPE[0] + 14
    names = [e["name"] for e in seg["legend"]]
    assert "particles" in names and len(set(map(tuple, (e["rgb"] for e in seg["legend"])))) == len(names)
    # a quantify job has no labels, a segment job no particle table
    assert client.get(f"/api/jobs/{jobs['quantify']['id']}/labels.tif").status_code == 404
    assert client.get(f"/api/jobs/{jobs['segment']['id']}/particles.csv").status_code == 404


@pytest.mark.parametrize("bright", [True, False])
def test_auto_foreground_picks_the_disks_and_says_how(client, bright):
    image, inside = _disks(bright=bright)
    up = _upload(client, f"disks-{bright}.tif", _tiff(image), foreground="auto")
    seg = _jobs(client, up.json())["segment"]["result"]
    f = seg["foreground"]
    assert f["requested"] == "auto" and f["chosen"] == ("bright" if bright else "dark")
    assert f["rule"]
    assert seg["phase_fraction"] == pytest.approx(inside.mean(), abs=0.01)


def test_the_same_image_with_other_options_is_segmented_again(client):
    image, inside = _disks(bright=True)
    data = _tiff(image)
    a = _jobs(client, _upload(client, "a.tif", data, foreground="bright").json())["segment"]
    b = _jobs(client, _upload(client, "b.tif", data, foreground="dark").json())["segment"]
    assert a["result"]["phase_fraction"] == pytest.approx(inside.mean(), abs=0.01)
    assert b["result"]["phase_fraction"] == pytest.approx(1 - inside.mean(), abs=0.01)
    assert a["result"]["labels_file"] != b["result"]["labels_file"]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [("method", "magic", "method"), ("foreground", "grey", "foreground"), ("model", "nope", "model")],
)
def test_unknown_choices_are_refused_in_one_line(client, workspace, field, value, words):
    r = _upload(client, "x.tif", _tiff(_disks()[0]), tasks="segment", **{field: value})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert words in detail and value in detail and "\n" not in detail
    assert client.get("/api/uploads").json()["uploads"] == []  # nothing stored


def test_black_frame_is_flagged_on_arrival_and_segmentation_warns(client):
    up = _upload(client, "black.tif", _tiff(np.zeros(SHAPE, np.uint8)))
    assert up.status_code == 201, up.text
    assert "blank" in up.json()["quality"]["flags"]
    seg = _jobs(client, up.json())["segment"]["result"]
    assert any("blank" in w or "constant" in w for w in seg["warnings"])
    rows = list(csv.DictReader(io.StringIO(client.get("/api/history.csv").text)))
    assert "blank" in rows[0]["quality_flags"]
    fine = _upload(client, "disks.tif", _tiff(_disks()[0]), tasks="none").json()
    assert fine["quality"]["flags"] == []


def test_preview_scale_bar_has_the_labelled_length(tmp_path):
    """The bar drawn is the labelled round length at the image's pixel size (±1 px)."""
    from PIL import Image

    from semlab.serve._routes_common import scale_bar_length, write_preview

    image = _disks()[0]
    write_preview(image, tmp_path / "plain.png")
    write_preview(image, tmp_path / "bar.png", pixel_size=PIXEL_SIZE, databar_row=200)
    plain = np.asarray(Image.open(tmp_path / "plain.png"))
    bar = np.asarray(Image.open(tmp_path / "bar.png").convert("RGB"))
    changed = np.any(bar != plain[..., None], axis=2)
    rows, cols = np.nonzero(changed)
    assert rows.max() < 200 and cols.min() > SHAPE[1] // 2  # lower right, above the data bar
    white = np.all(bar == 255, axis=2) & changed
    runs = [np.diff(np.flatnonzero(np.diff(np.r_[0, w, 0]))) for w in white.astype(int)]
    longest = max(int(r[::2].max()) for r in runs if r.size)
    length_um, label = scale_bar_length(SHAPE[1] * PIXEL_SIZE)
    assert longest == pytest.approx(length_um / PIXEL_SIZE, abs=1)
    assert label == "500 nm"


def test_preview_route_draws_a_bar_only_with_a_pixel_size(client):
    from PIL import Image

    image = _disks()[0]
    with_px = _upload(client, "a.tif", _tiff(image), tasks="none").json()["image_hash"]
    without = _upload(client, "b.tif", _tiff(image[:, ::-1].copy(), None), tasks="none").json()["image_hash"]
    a = Image.open(io.BytesIO(client.get(f"/api/images/{with_px}/preview.png").content))
    b = Image.open(io.BytesIO(client.get(f"/api/images/{without}/preview.png").content))
    assert a.mode == "RGB" and b.mode == "L"  # the bar and its box are drawn on an RGB copy


def test_info_lists_methods_foregrounds_and_no_model(client):
    caps = client.get("/api/info").json()["capabilities"]
    assert {"otsu", "derivative", "hybrid"} <= set(caps["segment"]["methods"])
    assert caps["segment"]["foregrounds"] == ["auto", "bright", "dark"]
    assert caps["predict"]["available"] is False
    assert client.get("/api/models").json() == {"default": None, "models": []}


def test_history_csv_names_the_measured_phase(client):
    up = _upload(client, "d.tif", _tiff(_disks()[0]), foreground="bright", phase="particles").json()
    _jobs(client, up)
    row = next(csv.DictReader(io.StringIO(client.get("/api/history.csv").text)))
    assert row["measured_phase"] == "particles" and row["foreground"] == "bright"
    assert int(row["n_particles"]) == len(CENTRES)
    assert re.fullmatch(r"0\.\d+", row["measured_phase_fraction"])


def test_classic_fallback_names_the_chosen_phase(client, monkeypatch):
    """Without the library's named phases (older semlab.segment) the web app still measures and
    names the chosen phase, keeps the upload's shape and marks the data bar as no data."""
    from semlab.serve import _segjob

    monkeypatch.setattr(_segjob, "engine", lambda: "classic")
    image, inside = _disks(bright=True)
    framed = np.vstack([image, np.full((20, SHAPE[1]), 255, np.uint8)])  # a white bar below
    opts = _segjob.SegmentOptions(method="otsu", foreground="auto", phase="particles")
    seg = _segjob.classic(framed, SHAPE[0], opts, "otsu")
    assert seg.labels.shape == framed.shape and np.all(seg.labels[SHAPE[0] :] == _segjob.NO_DATA)
    assert seg.phase == "particles" and seg.foreground["chosen"] == "bright"
    assert seg.phase_fraction() == pytest.approx(inside.mean(), abs=0.01)
    up = _upload(client, "d.tif", _tiff(image), foreground="dark")
    result = _jobs(client, up.json())["segment"]["result"]
    assert result["engine"] == "classic" and result["foreground"]["chosen"] == "dark"
    assert result["phase_fraction"] == pytest.approx(1 - inside.mean(), abs=0.01)


def test_trained_segmenters_are_methods_and_not_prediction_runs(client, workspace):
    """A folder with a segmenter's config.json (kind segmenter) is offered as `model:NAME`, a
    head's (kind head) as a prediction run; neither is mistaken for the other."""
    for sub, name, kind in (("segmenters", "emps-unet", "segmenter"), ("runs", "porosity-logreg", "head")):
        folder = workspace.path / sub / name
        folder.mkdir(parents=True)
        cfg = {
            "kind": kind,
            "created": "2026-01-02T03:04:05+00:00",
            "extra": {"run": {"target": "porosity", "task": "regress"}},
        }
        (folder / "config.json").write_text(json.dumps(cfg))
    (workspace.path / "runs" / "porosity-logreg" / "metrics.json").write_text(
        json.dumps({"image": {"r2": 0.71}})
    )
    caps = client.get("/api/info").json()["capabilities"]
    assert "model:emps-unet" in caps["segment"]["methods"]
    (run,) = client.get("/api/models").json()["models"]
    assert run["name"] == "porosity-logreg" and run["cv"]["metric"] == "r2" and run["cv"]["value"] == 0.71
    assert caps["predict"]["default"] == "porosity-logreg"


@pytest.mark.slow
def test_an_upload_segmented_by_a_trained_unet_reports_what_ran_it(client, workspace):
    """A segmenter trained into the workspace is chosen per upload; its result names the
    runtime that ran the network (torch, OpenVINO or ONNX Runtime) and finds the disks."""
    pytest.importorskip("torch")
    from semlab.segment import train_segmenter

    image, inside = _disks(bright=True)
    train_segmenter(
        [image], [inside.astype(np.uint8)], class_names=("background", "disk"),
        model_options={"depth": 2, "width": 8}, patch_size=64, batch_size=8, max_steps=60, val_every=20,
        patience=10, lr=1e-2, seed=0, out=workspace.path / "segmenters" / "disks-unet",
    )  # fmt: skip
    up = _upload(client, "u.tif", _tiff(image), tasks="segment", method="model:disks-unet")
    result = _jobs(client, up.json())["segment"]["result"]
    assert result["engine"] == "segment_labelled" and result["foreground"]["chosen"] == "model"
    assert isinstance(result["runtime"], str) and re.match(
        r"(torch|openvino|onnxruntime) ", result["runtime"]
    )
    assert result["fractions"]["disk"] == pytest.approx(inside.mean(), abs=0.03)
