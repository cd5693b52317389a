"""In headless Chromium: a running job's stage and bar, retry only on a transient failure, filtered counts."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

#: Screenshots are kept here (git-ignored) to be looked at; SEMLAB_SCREENSHOTS moves them (as test_browser.py).
SHOTS = Path(
    os.environ.get("SEMLAB_SCREENSHOTS", Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots")
)
SHOTS.mkdir(parents=True, exist_ok=True)

pytestmark = pytest.mark.slow

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def test_progress_retry_and_filtered_counts_in_chromium(
    chromium_browser, workspace, tmp_path, live_server, monkeypatch
):
    import numpy as np
    from PIL import Image

    import semlab.serve._segjob as segjob
    from semlab.errors import ParameterError
    from semlab.serve import create_app

    original = segjob.segment
    release = threading.Event()
    behaviours = ["block", "memory", "param"]  # one per segment job, in upload order (one worker)

    def fake(*a, **k):
        what = behaviours.pop(0) if behaviours else "run"
        if what == "block":
            assert release.wait(120)
        elif what == "memory":
            raise MemoryError("cannot allocate 6 GiB for the probabilities")
        elif what == "param":
            raise ParameterError("--phase 'x': no such class; choose one of pore, solid")
        return original(*a, **k)

    monkeypatch.setattr(segjob, "segment", fake)
    files = []
    for i, name in enumerate(("slow.png", "memory.png", "param.png")):
        path = tmp_path / name
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (96, 128), dtype=np.uint8)).save(path)
        files.append(path)

    app = create_app(workspace)
    with live_server(app) as srv:
        page = chromium_browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#workspace:not(:empty)")
        for box in ("quantify",):  # segment alone: one job per upload
            page.uncheck(f"input[name=task][value={box}]")
        for n, path in enumerate(files, 1):
            page.set_input_files("#picker", [str(path)])
            page.wait_for_function(f"document.querySelectorAll('#queue li .state.ok').length === {n}")
        # the first job is held inside segmentation: the page shows its stage and bar
        running = page.locator("#history .job[data-status=running] .job-progress")
        running.wait_for(timeout=60_000)
        assert running.get_attribute("data-stage") == "segmenting"
        assert "segmenting" in running.inner_text() and "step 2 of 3" in running.inner_text()
        assert running.locator("progress").evaluate("b => b.value") == 33
        assert "working…" not in page.locator("#history").inner_text()
        page.screenshot(path=str(SHOTS / "serve-progress.png"), full_page=True)
        release.set()
        page.wait_for_function(
            "document.querySelectorAll('#history .upload').length === 3 && "
            "!document.querySelector('#history .job[data-status=queued], #history .job[data-status=running]')",
            timeout=120_000,
        )
        card = lambda name: page.locator("#history .upload", has_text=name)  # noqa: E731
        assert card("memory.png").locator(".job[data-status=failed] button.retry").count() == 1
        param = card("param.png").locator(".job[data-status=failed]")
        assert param.locator("button.retry").count() == 0 and param.locator(".no-retry").count() == 1
        assert card("slow.png").locator(".job[data-status=done]").count() == 1
        counts = page.locator("#counts")
        assert counts.inner_text().startswith("3 uploads, 3 images; their jobs: 1 done, 0 pending, 2 failed")
        page.screenshot(path=str(SHOTS / "serve-failures.png"), full_page=True)

        page.fill("#filter", "param")
        page.wait_for_function("document.querySelectorAll('#history .upload').length === 1")
        page.wait_for_function("document.querySelector('#counts').textContent.startsWith('1 of 3 uploads')")
        assert (
            "1 of 3 uploads matches the filter, 1 image; their jobs: 0 done, 0 pending, 1 failed"
            in counts.inner_text()
        )
        page.screenshot(path=str(SHOTS / "serve-filtered-counts.png"), full_page=True)
        page.fill("#filter", "")
        page.wait_for_function("document.querySelectorAll('#history .upload').length === 3")

        # retry on the transient failure runs it again, now successfully
        card("memory.png").locator("button.retry").click()
        page.wait_for_function(
            "document.querySelector('#history .upload[data-upload] .job[data-status=failed]') !== null && "
            "document.querySelectorAll('#history .job[data-status=done]').length === 2",
            timeout=120_000,
        )
        assert not errors, errors
        page.close()


def test_map_page_places_uploads_in_chromium(chromium_browser, workspace, tmp_path, live_server, monkeypatch):
    """The map page: title, what the coordinates are, axis titles, study points, the placed upload
    (a diamond with its name, linking to its page), an ordered colour bar with the column's name."""
    import json

    import numpy as np
    from PIL import Image

    from semlab.serve import create_app

    hashes = workspace.table()["hash"].tolist()
    folder = workspace.path / "maps" / "latest"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(
        json.dumps({"method": "pca", "backbone": "efficientnet_lite0", "patch_size_px": 64})
    )
    (folder / "coords.csv").write_text(
        "image_hash,x,y\n" + "".join(f"{h},{i},{(i * 7) % 5}\n" for i, h in enumerate(hashes))
    )
    new = tmp_path / "new_upload.png"
    Image.fromarray(np.random.default_rng(5).integers(0, 256, (96, 128), dtype=np.uint8)).save(new)

    app = create_app(workspace)
    monkeypatch.setattr(app.state.analyses, "place", lambda h: {"x": 1.5, "y": 2.0, "neighbours": []})
    with live_server(app) as srv:
        page = chromium_browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(srv.url + "/")
        page.wait_for_selector("#workspace:not(:empty)")
        for box in ("segment", "quantify"):
            page.uncheck(f"input[name=task][value={box}]")
        page.check("input[name=task][value=map]")
        page.set_input_files("#picker", [str(new)])
        page.wait_for_selector("#history .job[data-task=map][data-status=done]", timeout=60_000)
        page.click("header nav a[href='/map']")
        page.wait_for_selector("#map-svg")
        assert page.locator("#map-svg circle.pt").count() == len(hashes)
        assert page.locator("#map-svg .upload-pt").count() == 1
        assert page.locator("#map-svg .upload-label").text_content() == new.name
        assert page.locator("#map-title").inner_text().endswith(f"{len(hashes)} study images")
        assert "PCA of efficientnet_lite0 features" in page.locator("#map-coords").inner_text()
        titles = page.locator("#map-svg .axis-title").all_text_contents()
        assert titles == ["map x (PCA 1, no unit)", "map y (PCA 2, no unit)"]
        page.select_option("#color-by", "burst_count")
        bar = page.locator("#map-key .colourbar")
        assert bar.get_attribute("data-column") == "burst_count" and "burst" in bar.inner_text()
        fills = set(
            page.locator("#map-svg circle.pt").evaluate_all("cs => cs.map(c => c.getAttribute('fill'))")
        )
        assert len(fills) == len(set(workspace.table()["burst_count"]))  # one colour per burst count here
        page.hover("#map-svg .upload-pt")
        page.wait_for_selector("#map-detail img.detail-img")
        page.screenshot(path=str(SHOTS / "serve-map.png"), full_page=True)
        page.click("#map-svg .upload-pt")
        page.wait_for_url("**/image/*")
        # the explorer (semlab map's page over the same saved map) is one link away
        page.go_back()
        page.click("#map-explore")
        page.wait_for_url("**/map/explore")
        page.wait_for_function("window.semlabMap && semlabMap.state().drawn > 0")
        assert page.evaluate("semlabMap.state().n") == len(hashes)
        assert not errors, errors
        page.close()
