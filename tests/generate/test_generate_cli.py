"""``semlab generate train/sample/evaluate``."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from semlab.cli import main  # noqa: E402


def test_help_lists_commands(capsys):
    assert main(["generate", "--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("train", "sample", "evaluate"))


@pytest.mark.slow
def test_train_on_workspace(series_ws, tmp_path, capsys):
    out = tmp_path / "gan"
    rc = main(
        [
            "generate",
            "train",
            str(series_ws.path),
            "--model",
            "acwgan",
            "--condition",
            "burst_count",
            "--size",
            "16",
            "--epochs",
            "1",
            "--scale",
            "0.25",
            "--patches-per-image",
            "4",
            "--width",
            "8",
            "--batch-size",
            "8",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    result = json.loads(capsys.readouterr().out)
    assert result["model"] == "acwgan" and result["steps"] == 8  # 16 images × 4 patches / batch 8
    assert result["images_seen"] == 8 * 8 and result["seconds"] > 0
    meta = json.loads((out / "config.json").read_text())
    assert meta["kind"] == "generator" and meta["config"]["size"] == 16 and meta["config"]["noise_dim"] == 100
    assert meta["extra"]["conditions"]["conditions"][0]["levels"] == ["1", "2", "4", "8"]
    assert meta["preprocessing"]["scale"] == 0.25 and meta["preprocessing"]["pixel_size"] == pytest.approx(
        0.032
    )
    assert (out / "samples" / "epoch_001.png").is_file() and (out / "checkpoint.pt").is_file()


@pytest.mark.slow
def test_sample_writes_images_and_grid(trained_ddpm, tmp_path, capsys):
    out = tmp_path / "s"
    rc = main(
        [
            "generate",
            "sample",
            str(trained_ddpm.path),
            "--condition",
            "burst_count=8",
            "-n",
            "4",
            "--out",
            str(out),
            "--guidance",
            "2.0",
            "--steps",
            "4",
            "--seed",
            "3",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.glob("sample_*.png")) == [f"sample_{i:03d}.png" for i in range(4)]
    assert (out / "grid.png").is_file()
    meta = json.loads((out / "samples.json").read_text())
    assert meta["condition"] == {"burst_count": "8"} and 0 <= meta["porosity_mean"] <= 1


@pytest.mark.slow
def test_sample_settings_after_one_condition_flag(trained_ddpm, tmp_path, capsys):
    """`--condition a=x b=y` (the issue's form) and a missing condition."""
    two = tmp_path / "two"
    rc = main(
        [
            "generate",
            "sample",
            str(trained_ddpm.path),
            "--condition",
            "burst_count=1",
            "-n",
            "2",
            "--out",
            str(two),
            "--steps",
            "2",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    rc = main(
        [
            "generate",
            "sample",
            str(trained_ddpm.path),
            "--condition",
            "burst_count=1",
            "colour=red",
            "-n",
            "2",
            "--out",
            str(two),
            "--steps",
            "2",
        ]
    )
    assert rc == 2 and "has no condition colour" in capsys.readouterr().err
    rc = main(["generate", "sample", str(trained_ddpm.path), "-n", "2", "--out", str(two)])
    assert rc == 2 and "give the condition to sample" in capsys.readouterr().err


@pytest.mark.slow
def test_evaluate_on_workspace(trained_ddpm, series_ws, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(
        [
            "generate",
            "evaluate",
            str(trained_ddpm.path),
            str(series_ws.path),
            "--out",
            str(out),
            "-n",
            "6",
            "--steps",
            "5",
            "--no-plots",
            "-q",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "burst_count=1:" in text and "burst_count=8:" in text and "R²:" in text
    data = json.loads((out / "report.json").read_text())
    # burst counts 2 and 4 are in the workspace but not in the model: left out
    assert [c["condition"] for c in data["conditions"]] == ["burst_count=1", "burst_count=8"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,message",
    [
        (
            ["sample", "{model}", "--condition", "burst_count=3", "--out", "{tmp}/x"],
            "burst_count='3' is not a level",
        ),
        (["sample", "{model}", "--condition", "burst=3", "--out", "{tmp}/x"], "has no condition burst"),
        (
            ["sample", "{tmp}/nothing", "--condition", "burst_count=1", "--out", "{tmp}/x"],
            "no such model folder",
        ),
        (
            [
                "train",
                "{ws}",
                "--condition",
                "pixel_size_um",
                "--steps",
                "1",
                "--size",
                "16",
                "--out",
                "{tmp}/m",
                "-q",
            ],
            "has a single value",
        ),
        (
            [
                "train",
                "{ws}",
                "--condition",
                "colour",
                "--steps",
                "1",
                "--size",
                "16",
                "--out",
                "{tmp}/m",
                "-q",
            ],
            "no column colour",
        ),
    ],
)
def test_errors_are_one_line(trained_ddpm, series_ws, tmp_path, capsys, args, message):
    args = [a.format(model=trained_ddpm.path, tmp=tmp_path, ws=series_ws.path) for a in args]
    assert main(["generate", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


@pytest.mark.slow
def test_train_recipe_options_are_recorded(series_ws, tmp_path, capsys):
    out = tmp_path / "ddpm"
    base = ["generate", "train", str(series_ws.path), "-m", "ddpm", "-c", "burst_count", "--size", "16",
            "--steps", "2", "--scale", "0.25", "--patches-per-image", "2", "--width", "8", "--batch-size", "4",
            "--equalize", "none", "--out", str(out), "-q"]  # fmt: skip
    rc = main([*base, "--normalize", "levels", "--lr-schedule", "constant", "--ema-decay", "0"])
    assert rc == 0, capsys.readouterr().err
    capsys.readouterr()
    meta = json.loads((out / "config.json").read_text())
    assert meta["preprocessing"]["normalize"] == "levels" and meta["config"]["prediction"] == "v"
    training = meta["extra"]["training"]
    assert training["lr_schedule"] == "constant" and training["ema_decay"] is None and training["steps"] == 2
    for bad, word in ((["--normalize", "stretch"], "normalize"), (["--lr-schedule", "step"], "lr_schedule")):
        assert main([*base, "--restart", *bad]) == 2
        err = capsys.readouterr().err
        assert word in err and len(err.strip().splitlines()) == 1, err
