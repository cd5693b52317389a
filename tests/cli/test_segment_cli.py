"""``semlab segment``, ``train-segmenter`` and ``score-segmentation`` on tiny synthetic files."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from semlab.cli import main
from semlab.io import read_micrograph, read_volume, write_micrograph


def _pair(seed, shape=(48, 64)):
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[: shape[0], : shape[1]]
    truth = np.zeros(shape, np.uint8)  # 1 = dark pore, 0 = bright solid (threshold convention)
    for _ in range(5):
        r, c, rad = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(4, 8)
        truth[(rr - r) ** 2 + (cc - c) ** 2 <= rad**2] = 1
    image = np.clip(np.where(truth == 1, 60.0, 190.0) + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)
    return image, truth


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    img, lab = tmp_path / "img", tmp_path / "lab"
    for i in range(3):
        image, truth = _pair(i)
        write_micrograph(img / f"s{i}.tif", image, pixel_size=0.01)
        write_micrograph(lab / f"s{i}.tif", truth)
    return {"img": img, "lab": lab, "root": tmp_path}


def test_segment_otsu_writes_labels_overlays_and_fractions(data, capsys):
    out = data["root"] / "seg"
    rc = main(["segment", str(data["img"]), "--method", "otsu", "--out", str(out), "--truth", str(data["lab"]),
               "--foreground", "dark", "--phase-name", "pore"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    for i in range(3):
        labels = read_micrograph(out / f"s{i}.tif")
        assert labels.pixel_size == pytest.approx(0.01)
        truth = read_micrograph(data["lab"] / f"s{i}.tif").image
        assert np.mean(labels.image == truth) > 0.97
        assert (out / f"s{i}_overlay.png").is_file()
    rows = list(csv.DictReader((out / "phase_fractions.csv").open()))
    assert [r["file"].endswith(f"s{i}.tif") for i, r in enumerate(rows)] == [True] * 3
    # thresholds name their classes background / <phase name> (API change, issue 14)
    assert abs(float(rows[0]["fraction_pore"]) + float(rows[0]["fraction_background"]) - 1) < 1e-5
    # scoring the result against the truth
    rc = main(["score-segmentation", "--truth", str(data["lab"]), "--pred", str(out), "--out", str(out / "s.csv")])
    assert rc == 0
    text = capsys.readouterr().out
    assert "all 3 images: mean IoU" in text
    scores = list(csv.DictReader((out / "s.csv").open()))
    assert scores[-1]["file"] == "ALL" and float(scores[-1]["mean_iou"]) > 0.9


def test_segment_hybrid_stack(data, capsys):
    stack_dir = data["root"] / "stack"
    for i in range(3):
        write_micrograph(stack_dir / f"z{i:02d}.tif", _pair(10 + i)[0], pixel_size=0.02)
    out = data["root"] / "seg3d"
    assert main(["segment", str(stack_dir), "--stack", "--method", "hybrid", "--out", str(out)]) == 0
    vol = read_volume(out / "stack.tif").data
    assert vol.shape == (3, 48, 64) and set(np.unique(vol)) <= {0, 1, 2}
    rows = list(csv.DictReader((out / "phase_fractions.csv").open()))
    assert [r["slice"] for r in rows] == ["0", "1", "2"] and "fraction_shine_through" in rows[0]


@pytest.mark.slow
def test_train_then_segment_with_the_model(data, capsys):
    model = data["root"] / "unet"
    rc = main([
        "train-segmenter", "--images", str(data["img"]), "--labels", str(data["lab"]), "--out", str(model),
        "--max-steps", "6", "--val-every", "3", "--patch-size", "32", "--batch-size", "2",
        "--depth", "2", "--width", "4", "--device", "cpu", "--class-names", "solid,pore",
    ])
    assert rc == 0, capsys.readouterr().err
    assert (model / "config.json").is_file() and (model / "model.pt").is_file()
    out = data["root"] / "seg_model"
    rc = main(["segment", str(data["img"] / "s0.tif"), "--method", str(model), "--out", str(out),
               "--tile-size", "32", "--overlap", "8", "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    assert read_micrograph(out / "s0.tif").image.shape == (48, 64)
    assert "fraction_solid" in (out / "phase_fractions.csv").read_text()


def test_errors_are_one_line(data, capsys, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["train-segmenter", "--images", str(empty), "--labels", str(data["lab"])]) == 2
    assert "folder holds no images" in capsys.readouterr().err
    # labels of another shape than their images
    bad = tmp_path / "badlab"
    write_micrograph(bad / "s0.tif", np.zeros((10, 10), np.uint8))
    write_micrograph(bad / "s1.tif", np.zeros((10, 10), np.uint8))
    write_micrograph(bad / "s2.tif", np.zeros((10, 10), np.uint8))
    assert main(["train-segmenter", "--images", str(data["img"]), "--labels", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "labels have shape (10, 10)" in err and len(err.strip().splitlines()) == 1
    # unexpected label values
    assert main(["train-segmenter", "--images", str(data["img"]), "--labels", str(data["lab"]),
                 "--classes", "0,255"]) == 2
    assert "unexpected value(s) [1]" in capsys.readouterr().err
    # a model folder that is not a segmenter
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "model.pt").write_bytes(b"x")
    assert main(["segment", str(data["img"]), "--method", str(fake), "--out", str(tmp_path / "o")]) == 2
    assert "not a semlab segmenter" in capsys.readouterr().err
    assert main(["segment", str(data["img"]), "--method", "kmeans", "--out", str(tmp_path / "o")]) == 2
    assert "neither one of otsu, derivative, hybrid" in capsys.readouterr().err


def test_segment_crops_the_data_bar(tmp_path):
    from semlab.data import render_sintered_film
    from semlab.io import read_micrograph, write_micrograph
    from semlab.segment import NO_DATA

    m = render_sintered_film(2, shape=(128, 128), rng=0)
    src = write_micrograph(tmp_path / "film.tif", m.image, pixel_size=m.pixel_size)  # no databar_row metadata
    assert main(["segment", str(src), "--method", "otsu", "--out", str(tmp_path / "seg")]) == 0
    labels = read_micrograph(tmp_path / "seg" / "film.tif")
    # bar detected in the pixels: labels keep the input's shape, the bar's rows are no data (issue 14)
    assert labels.image.shape == (128, 128)
    assert (labels.image[m.databar_row :] == NO_DATA).all() and (labels.image[: m.databar_row] != NO_DATA).all()
    assert labels.pixel_size == pytest.approx(m.pixel_size)
    assert main(["segment", str(src), "--method", "otsu", "--no-crop", "--out", str(tmp_path / "raw")]) == 0
    assert read_micrograph(tmp_path / "raw" / "film.tif").image.shape == (128, 128)


def test_synthetic_truth_and_segmentation_share_a_convention(tmp_path):
    """Generator ground truth and segment labels both use 0 = solid, 1 = pore, so they score directly."""
    from semlab.data import sintering_series

    sintering_series(tmp_path / "syn", burst_counts=(2,), samples_per_level=1, images_per_sample=2,
                     shape=(192, 192), seed=0)
    assert main(["segment", str(tmp_path / "syn" / "images"), "--method", "hybrid",
                 "--out", str(tmp_path / "seg")]) == 0
    out = tmp_path / "scores.csv"
    assert main(["score-segmentation", "--truth", str(tmp_path / "syn" / "labels"), "--pred", str(tmp_path / "seg"),
                 "--merge", "2=1", "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    accuracy = [float(r["accuracy"]) for r in rows]
    assert len(accuracy) >= 2 and min(accuracy) > 0.8  # inverted labels would score below 0.5


def test_score_segmentation_merge_swaps_classes(data, tmp_path, capsys):
    """--merge 0=1 --merge 1=0 swaps the prediction's classes (it used to collapse them into 0)."""
    truth, pred = tmp_path / "truth", tmp_path / "pred"
    for i in range(3):
        t = read_micrograph(data["lab"] / f"s{i}.tif").image
        write_micrograph(truth / f"s{i}.tif", (1 - t).astype(np.uint8))
        write_micrograph(pred / f"s{i}.tif", t)
    out = tmp_path / "scores.csv"
    argv = ["score-segmentation", "--truth", str(truth), "--pred", str(pred), "--merge", "0=1", "--merge", "1=0"]
    assert main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "relabelled at once (FROM=TO): 0=1 1=0" in text
    assert "all 3 images: mean IoU 1.0000 (class_0 1.0000  class_1 1.0000)" in text
    rows = list(csv.DictReader(out.open()))
    assert [float(r["mean_iou"]) for r in rows] == [1.0] * 4 and {r["merge"] for r in rows} == {"0=1 1=0"}
    assert main([*argv, "--merge", "0=2"]) != 0
    assert "merge maps 0 twice" in capsys.readouterr().err


@pytest.mark.slow
def test_train_segmenter_cli_exposes_the_benchmark_recipe(data, capsys):
    """Every option the benchmark's recipe uses reaches the library: the CLI's model equals the API's."""
    import json

    torch = pytest.importorskip("torch")
    from semlab.registry import load_artifact
    from semlab.segment import train_segmenter

    model = data["root"] / "unet-recipe"
    rc = main([
        "train-segmenter", "--images", str(data["img"]), "--labels", str(data["lab"]), "--out", str(model),
        "--max-steps", "4", "--val-every", "2", "--patch-size", "16", "--batch-size", "2", "--depth", "2",
        "--width", "4", "--device", "cpu", "--downsample", "2", "--invert", "--val-fraction", "0.34",
        "--val-patches", "4", "--dice-weight", "0.5", "--seed", "3",
    ])
    assert rc == 0, capsys.readouterr().err
    meta = json.loads((model / "config.json").read_text())
    training = meta["extra"]["training"]
    assert meta["preprocessing"]["downsample"] == 2 and training["invert"] is True
    assert training["val_fraction"] == 0.34 and training["val_patches"] == 4 and training["dice_weight"] == 0.5
    from semlab.io import read_micrograph

    names = sorted(p.name for p in data["img"].iterdir())
    ims = [read_micrograph(data["img"] / n).image for n in names]
    lbs = [read_micrograph(data["lab"] / n).image for n in names]
    api = train_segmenter(
        ims, lbs, max_steps=4, val_every=2, patch_size=16, batch_size=2, model_options={"depth": 2, "width": 4},
        device="cpu", downsample=2, invert=True, val_fraction=0.34, val_patches=4, dice_weight=0.5, seed=3,
    )
    cli_state = load_artifact(model).model.state_dict()
    api_state = api.segmenter.model.state_dict()
    assert all(torch.equal(cli_state[k], api_state[k]) for k in api_state)
