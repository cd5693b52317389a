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
