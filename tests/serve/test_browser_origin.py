"""In headless Chromium: a page on another origin (another port of 127.0.0.1) tries to upload to the
app and queue jobs — a form POST with a file, and fetch() with and without the token cookie — and
every attempt is refused; nothing is stored (issue 19 item 2)."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ATTACK = """<!doctype html><html><body>
<form id="f" method="post" enctype="multipart/form-data" action="TARGET/api/uploads">
<input type="file" name="file"><input name="tasks" value="segment,quantify"></form>
<script>
const png = Uint8Array.from(atob("PNG_B64"), c => c.charCodeAt(0));
const blob = new Blob([png], {type: "image/png"});
window.results = [];
async function attempt(mode) {
  const form = new FormData();
  form.append("file", blob, "x.png");
  form.append("tasks", "segment,quantify");
  try {
    const r = await fetch("TARGET/api/uploads", {method: "POST", body: form, mode, credentials: "include"});
    window.results.push(mode + ":" + r.status);
  } catch (e) { window.results.push(mode + ":blocked"); }
}
window.fetches = (async () => {
  await attempt("no-cors");
  await attempt("cors");
  try { await fetch("TARGET/api/jobs/1/retry", {method: "POST", mode: "no-cors", credentials: "include"}); }
  catch (e) {}
  return window.results;
})();
window.submitForm = () => {
  const dt = new DataTransfer();
  dt.items.add(new File([png], "x.png", {type: "image/png"}));
  const input = document.querySelector("input[type=file]");
  input.files = dt.files;
  document.getElementById("f").submit();
};
</script></body></html>"""


def _png_b64() -> str:
    import base64
    import io

    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


class _AttackSite:
    """A static page on another port of 127.0.0.1 (another origin, same site)."""

    def __init__(self, folder) -> None:  # noqa: ANN001
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *a, **k: None  # type: ignore[method-assign]
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("token", [None, "browser-test-token-1"])
def test_cross_origin_upload_from_another_page_is_refused(
    chromium_browser, workspace, tmp_path, live_server, token
):
    import httpx

    from semlab.serve import create_app

    app = create_app(workspace, token=token)
    with live_server(app) as srv:
        (tmp_path / "attack.html").write_text(
            ATTACK.replace("TARGET", srv.url).replace("PNG_B64", _png_b64())
        )
        site = _AttackSite(tmp_path)
        try:
            context = chromium_browser.new_context()
            page = context.new_page()
            if token:  # the user opened the app once: the SameSite=Strict cookie is in the browser
                page.goto(f"{srv.url}/?token={token}")
                assert page.url == srv.url + "/"
            page.goto(site.url + "/attack.html")
            results = page.evaluate("window.fetches")
            assert "cors:403" in results or "cors:blocked" in results, results
            with page.expect_navigation():
                page.evaluate("window.submitForm()")
            body = page.content()
            assert "cross-origin request refused" in body, body[:500]
            context.close()
        finally:
            site.close()
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        stored = httpx.get(srv.url + "/api/uploads", headers=auth).json()
        assert stored["uploads"] == [] and len(workspace) == 4  # nothing uploaded, nothing queued
