"""The demo's map step: the demo workspace's map as one standalone HTML file."""

from __future__ import annotations

import json
import re

import pytest

from semlab.demo._maps import map_step

pytestmark = pytest.mark.slow  # docs/conventions.md: slow tests are skipped by `make test-fast`


def test_map_step_writes_the_map_coloured_by_burst_count(uint16_ws, tmp_path, chromium_browser):
    with pytest.warns(UserWarning, match="no CNN features"):
        path = map_step(uint16_ws, out_dir=tmp_path, quick=True)
    assert path == tmp_path / "map.html" and path.is_file()
    html = path.read_text(encoding="utf-8")
    data = json.loads(
        re.search(r'<script id="semlab-data" type="application/json">(.*?)</script>', html, re.S)
        .group(1)
        .replace("<\\/", "</")
    )
    assert data["n"] == 16 and data["colorBy"] == "burst_count" and data["method"] == "pca"
    assert data["info"]["backbone"] == "grey-histogram+spectrum"
    page = chromium_browser.new_page(viewport={"width": 900, "height": 700})
    try:
        page.goto(path.as_uri())
        page.wait_for_function("window.semlabMap && semlabMap.state().drawnThumbs === 16", timeout=20000)
        # burst count is a number: an ordered colour bar (maps page since 1df73da); its levels as
        # categories (a legend) when asked
        assert page.locator("#legend canvas.colour-bar").count() == 1
        page.select_option("#color-by", "burst_count::categories")
        page.wait_for_function("semlabMap.state().asCategories")
        assert [t.split(" ")[0] for t in page.locator("#legend .item").all_inner_texts()] == [
            "1",
            "2",
            "4",
            "8",
        ]
    finally:
        page.close()
