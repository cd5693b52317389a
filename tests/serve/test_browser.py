"""End to end in headless Chromium: upload real SEM files and a synthetic one, see results, reload, download."""

from __future__ import annotations

import csv
import importlib.util
import os
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`

#: Screenshots are kept here (git-ignored) to be looked at; SEMLAB_SCREENSHOTS moves them.
SHOTS = Path(
    os.environ.get("SEMLAB_SCREENSHOTS", Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots")
)
SHOTS.mkdir(parents=True, exist_ok=True)

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

REAL_FILES = ("FEI-Helios-Ebeam-8bits.tif", "test_tiff_Zeiss_SEM_1k.tif", "imagej_scaled.tif")
CLASSES = {"1", "2", "4", "8"}  # burst counts of the synthetic series


def _has_learning() -> bool:
    try:
        return all(
            importlib.util.find_spec(m) is not None
            for m in (
                "semlab.learn.run",
                "semlab.learn.predict",
                "semlab.maps.mapdata",
                "semlab.features.embed",
            )
        )
    except ModuleNotFoundError:
        return False


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory: pytest.TempPathFactory):
    """A synthetic study (8 images, 2 samples per burst count) with a trained burst-count model and a
    map, when this semlab has the learn and maps stages; else the study alone."""
    from semlab.data import sintering_series
    from semlab.dataset import Workspace

    root = tmp_path_factory.mktemp("study")
    sintering_series(root / "series", shape=(128, 128), samples_per_level=2, images_per_sample=1, seed=0)
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "series" / "descriptors.csv", images_dir=root / "series")
    if _has_learning():
        from semlab.features import embed_workspace
        from semlab.learn import train_workspace
        from semlab.maps import build_map
        from semlab.preprocess import Preparation

        embed_workspace(ws, preparation=Preparation(patch_size=64, patches_per_image=4, seed=0), device="cpu")
        train_workspace(ws, target="burst_count", model="logreg", plots=False, seed=0)
        build_map(ws, method="pca")
    return ws


def test_upload_results_history_and_download_in_chromium(
    chromium_browser, trained_workspace, sem_dir, tmp_path, live_server
):
    from semlab.data import render_sintered_film
    from semlab.io import write_micrograph
    from semlab.serve import create_app

    synthetic = tmp_path / "new_film_b8.tif"
    film = render_sintered_film(8, shape=(128, 128), rng=123)
    write_micrograph(synthetic, film.image, pixel_size=film.pixel_size)
    files = [str(sem_dir / f) for f in REAL_FILES] + [str(synthetic)]

    app = create_app(trained_workspace)
    learning = app.state.analyses.capabilities()["predict"]["available"]
    with live_server(app) as srv:
        page = chromium_browser.new_page(accept_downloads=True)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#workspace:not(:empty)")
        predict_box = page.locator("input[name=task][value=predict]")
        assert predict_box.is_enabled() == learning
        page.set_input_files("#picker", files)

        # per-file progress: every file reaches "stored"
        page.wait_for_function(
            "document.querySelectorAll('#queue li .state.ok').length === 4", timeout=180_000
        )
        assert page.locator("#queue progress").evaluate_all("bars => bars.map(b => b.value)") == [100] * 4
        # all jobs finished (the page polls; it never blocks)
        page.wait_for_function(
            "document.querySelectorAll('#history .upload').length === 4 && "
            "!document.querySelector('#history .job[data-status=queued], #history .job[data-status=running]')",
            timeout=180_000,
        )
        page.screenshot(path=str(SHOTS / "serve-results.png"), full_page=True)
        assert (SHOTS / "serve-results.png").stat().st_size > 10_000

        cards = page.locator("#history .upload")
        names = cards.locator("h3 a").all_inner_texts()
        assert sorted(names) == sorted(Path(f).name for f in files)
        card = page.locator("#history .upload", has_text=synthetic.name)
        # the overlay of the synthetic image is shown and decoded
        overlay = card.locator("img.overlay")
        overlay.wait_for()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=overlay.element_handle())
        assert 2 * 128 <= overlay.evaluate("img => img.naturalWidth") <= 2 * 128 + 16  # image | labels panels
        assert card.locator(".job[data-task=quantify][data-status=done]").count() == 1
        if learning:
            label = card.locator(".job[data-task=predict] .prediction").inner_text()
            assert label in CLASSES
            found = page.request.get(f"{srv.url}/api/uploads?label={label}").json()["uploads"]
            assert synthetic.name in [u["original_name"] for u in found]
            assert card.locator(".job[data-task=map][data-status=done]").count() == 1
        # every real file was segmented, with its overlay
        for name in REAL_FILES:
            real = page.locator("#history .upload", has_text=name)
            assert real.locator(".job[data-task=segment][data-status=done] img.overlay").count() == 1

        # reload: the history comes back from the catalog
        page.reload()
        page.wait_for_function("document.querySelectorAll('#history .upload').length === 4")
        page.fill("#filter", "new_film")
        page.wait_for_function("document.querySelectorAll('#history .upload').length === 1")
        page.fill("#filter", "")
        page.wait_for_function("document.querySelectorAll('#history .upload').length === 4")

        with page.expect_download() as dl:
            page.click("#dl-csv")
        target = tmp_path / "history.csv"
        dl.value.save_as(target)
        rows = list(csv.DictReader(target.open(encoding="utf-8")))
        assert sorted(r["original_name"] for r in rows) == sorted(Path(f).name for f in files)
        row = next(r for r in rows if r["original_name"] == synthetic.name)
        assert float(row["pixel_size_um"]) == pytest.approx(film.pixel_size)
        assert 0.0 < float(row["phase_fraction"]) < 1.0
        if learning:
            assert row["prediction"] in CLASSES and 0.0 < float(row["confidence"]) <= 1.0
        zeiss = next(r for r in rows if r["original_name"] == "test_tiff_Zeiss_SEM_1k.tif")
        assert float(zeiss["pixel_size_um"]) == pytest.approx(2.615)

        # the image page: pixel size, metadata, results, neighbours on the map
        card = page.locator("#history .upload", has_text=synthetic.name)
        card.locator("h3 a").click()
        page.wait_for_url(re.compile(r"/image/[0-9a-f]{64}$"))
        page.wait_for_selector("#meta tr")
        assert f"{film.pixel_size:.4g}" in page.locator("#caption").inner_text()
        page.wait_for_selector("#results .job")
        if learning:
            page.wait_for_selector("#neighbours table tr td a")
            assert page.locator("#neighbours table tr").count() > 1
        page.screenshot(path=str(SHOTS / "serve-image-page.png"), full_page=True)

        if learning:  # the map page: the study's real map with the uploads placed on it
            page.goto(srv.url + "/map")
            page.wait_for_selector("#map-svg")
            assert page.locator("#map-svg circle.pt").count() == len(trained_workspace)
            placed = page.locator("#map-svg .upload-label").all_text_contents()
            assert synthetic.name in placed and len(placed) == len(files)
            page.select_option("#color-by", "burst_count")
            assert page.locator("#map-key .colourbar").get_attribute("data-column") == "burst_count"
            page.screenshot(path=str(SHOTS / "serve-map-study.png"), full_page=True)

        # the API reference renders offline from /openapi.json
        page.goto(srv.url + "/docs")
        page.wait_for_selector("section.route")
        assert page.locator("section.route h3", has_text="POST /api/uploads").count() == 1
        assert not errors, errors
        page.close()


def test_method_phase_choice_key_downloads_and_model_in_chromium(
    chromium_browser, trained_workspace, tmp_path, live_server
):
    """The upload form's method/phase/model choices reach the results; the page names the
    measured phase and how `auto` chose it, shows the colour key, the model used and the
    in-domain flag, and the label TIFF and particle CSV download."""
    import numpy as np
    import tifffile
    from PIL import Image

    from semlab.io import write_micrograph
    from semlab.serve import create_app

    rr, cc = np.mgrid[:240, :320]
    inside = np.zeros((240, 320), bool)
    for r in range(40, 240, 50):
        for c in range(40, 320, 60):
            inside |= (rr - r) ** 2 + (cc - c) ** 2 <= 144
    noise = np.random.default_rng(0).normal(0, 6, inside.shape)
    bright = tmp_path / "bright_disks.tif"
    write_micrograph(
        bright, np.clip(np.where(inside, 200.0, 50.0) + noise, 0, 255).astype(np.uint8), pixel_size=0.01
    )
    dark = tmp_path / "dark_disks.tif"
    write_micrograph(
        dark, np.clip(np.where(inside, 50.0, 200.0) + noise, 0, 255).astype(np.uint8), pixel_size=0.01
    )
    black = tmp_path / "black_frame.png"
    Image.fromarray(np.zeros((256, 256), np.uint8)).save(black)

    app = create_app(trained_workspace)
    learning = app.state.analyses.capabilities()["predict"]["available"]
    with live_server(app) as srv:
        page = chromium_browser.new_page(accept_downloads=True, viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#workspace:not(:empty)")
        if learning:
            run = app.state.analyses.runs()[0]
            assert page.locator("#opt-model option").count() == len(app.state.analyses.runs())
            assert run["name"] in page.locator("#model-info").inner_text()
            assert "burst_count" in page.locator("#model-info").inner_text()
        page.select_option("#opt-method", "otsu")
        page.select_option("#opt-foreground", "bright")
        page.fill("#opt-phase", "particles")
        page.set_input_files("#picker", [str(bright), str(black)])
        page.wait_for_function(
            "document.querySelectorAll('#queue li .state.ok').length === 2", timeout=180_000
        )
        page.select_option("#opt-foreground", "auto")
        page.fill("#opt-phase", "")
        page.set_input_files("#picker", [str(dark)])
        page.wait_for_function(  # the workspace is shared with other tests: count these three uploads
            "names => [...document.querySelectorAll('#history .upload h3 a')]"
            ".filter(a => names.includes(a.textContent)).length === 3 && "
            "!document.querySelector('#history .job[data-status=queued], #history .job[data-status=running]')",
            arg=[bright.name, dark.name, black.name],
            timeout=180_000,
        )
        assert not page.locator("#history .job[data-status=failed]").count()
        shot = SHOTS / "serve-choices.png"
        page.screenshot(path=str(shot), full_page=True)

        card = page.locator("#history .upload", has_text=bright.name)
        seg = card.locator(".job[data-task=segment]")
        assert seg.locator(".phase-name").inner_text() == "particles"
        assert "bright phase (chosen on upload)" in seg.locator(".choice").inner_text()
        assert seg.locator(".legend .key.measured").inner_text().startswith("particles")
        with page.expect_download() as dl:
            seg.locator("a.dl-labels").click()
        labels_path = tmp_path / "labels.tif"
        dl.value.save_as(labels_path)
        with tifffile.TiffFile(labels_path) as tif:
            labels = tif.asarray()
            assert "particles" in tif.pages[0].description
        assert labels.shape == inside.shape
        with page.expect_download() as dl:
            card.locator(".job[data-task=quantify] a.dl-particles").click()
        particles = tmp_path / "particles.csv"
        dl.value.save_as(particles)
        assert len(list(csv.DictReader(particles.open(encoding="utf-8")))) == 20

        auto = page.locator("#history .upload", has_text=dark.name).locator(".job[data-task=segment] .choice")
        assert auto.inner_text().startswith("auto → dark phase")
        blank = page.locator("#history .upload", has_text=black.name)
        assert "blank" in blank.locator(".quality").first.get_attribute("data-flags")
        if learning:
            pred = card.locator(".job[data-task=predict]")
            assert run["name"] in pred.locator(".model-used").inner_text()
            if pred.locator(".domain.unknown").count() == 0:  # the run has an in-domain model
                assert blank.locator(".job[data-task=predict] .domain.out").count() == 1
                conf = blank.locator(".job[data-task=predict] .confidence")
                assert conf.count() == 0 or "not meaningful outside the training domain" in conf.inner_text()

        # the image page: preview with its scale bar, the phase named in the results
        card.locator("h3 a").click()
        page.wait_for_url(re.compile(r"/image/[0-9a-f]{64}$"))
        page.wait_for_selector("#results .job[data-task=segment] .phase-name")
        page.wait_for_function(
            "img => img.complete && img.naturalWidth === 320", arg=page.locator("#preview").element_handle()
        )
        page.screenshot(path=str(SHOTS / "serve-choices-image.png"), full_page=True)
        assert not errors, errors
        page.close()
