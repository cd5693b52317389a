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


def test_map_server_refuses_a_forged_host():
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 must not read the map.
    import http.client

    import numpy as np
    import pandas as pd

    from semlab.maps import map_from_coords, serve_map

    data = map_from_coords(np.zeros((2, 2)), pd.DataFrame({"porosity_fraction": [0.1, 0.2]}))
    with serve_map(data, port=0) as server:
        for host, status in (("evil.example", 400), (f"127.0.0.1:{server.port}", 200), ("localhost", 200)):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.putrequest("GET", "/data.json", skip_host=True)
            conn.putheader("Host", host)
            conn.endheaders()
            assert conn.getresponse().status == status, host
            conn.close()
