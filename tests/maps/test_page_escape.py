"""The map page's embedded JSON survives any value (issue 19 item 5: ``<!--`` blanked the page)."""

from __future__ import annotations

import json
import re

from semlab.maps.page import render_page

NASTY = [
    "<!--",
    "</script><script>alert(1)</script>",
    "a & b > c",
    "line\u2028sep\u2029",
    "<\\!--",
    "\\u003c",
]


def _embedded(html: str) -> str:
    m = re.search(r'<script id="semlab-data" type="application/json">(.*?)</script>', html, flags=re.S)
    assert m is not None
    return m.group(1)


def test_values_with_html_markup_round_trip_through_the_page():
    payload = {"title": "t", "columns": {"note": NASTY}, NASTY[0]: NASTY[1]}
    html = render_page(payload)
    data = _embedded(html)
    assert json.loads(data) == payload  # the old "<\\!--" escape was invalid JSON here
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in data
    assert html.count("</script>") == html.count("<script")  # no element closed early
