"""Predictions that know their limits: temperature calibration, the in-domain score, the shortcut check."""

from __future__ import annotations

import numpy as np
import pytest

from semlab.learn.domain import fit_domain, load_domain
from semlab.learn.metrics import (
    apply_temperature,
    calibration_report,
    expected_calibration_error,
    fit_temperature,
)
from semlab.learn.shortcut import SHORTCUT_MESSAGE, shortcut_verdict


def _overconfident(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three classes; the true class probability is 0.6 but the model says ≈0.97."""
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, 3, n)
    y = np.where(rng.random(n) < 0.6, pred, (pred + rng.integers(1, 3, n)) % 3)
    p = np.full((n, 3), 0.015)
    p[np.arange(n), pred] = 0.97
    return p, y


def test_ece_of_known_cases():
    # every row 0.8 confident, 80 % right: perfectly calibrated
    p = np.tile([0.8, 0.2], (10, 1))
    y = np.array([0] * 8 + [1] * 2)
    ece, bins = expected_calibration_error(p, y, n_bins=10)
    assert ece == pytest.approx(0.0, abs=1e-12)
    assert sum(b["count"] for b in bins) == 10 and len(bins) == 10
    # 0.6 confident and always right: ECE 0.4
    ece, _ = expected_calibration_error(np.tile([0.6, 0.4], (5, 1)), np.zeros(5, int))
    assert ece == pytest.approx(0.4)


def test_temperature_softens_an_overconfident_model():
    p, y = _overconfident()
    rep = calibration_report(p, y, n_bins=10)
    assert rep["temperature"] > 1.5
    assert rep["ece_before"] == pytest.approx(0.37, abs=0.05)  # 0.97 said, 0.6 observed
    assert rep["ece_after"] < 0.05 < rep["ece_before"]
    q = apply_temperature(p, rep["temperature"])
    assert np.allclose(q.sum(1), 1.0) and (q.argmax(1) == p.argmax(1)).all()
    # the calibrated confidence is near the observed accuracy 0.6
    assert q.max(1).mean() == pytest.approx(0.6, abs=0.05)


def test_calibrated_probabilities_keep_a_temperature_near_one():
    rng = np.random.default_rng(1)
    p = rng.dirichlet([1, 1, 1], 2000)
    y = np.array([rng.choice(3, p=row) for row in p])
    assert 0.85 < fit_temperature(p, y) < 1.15


def test_domain_threshold_separates_far_images():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 3)
    centres = rng.normal(0, 1, (10, 64))
    train = centres[groups] + rng.normal(0, 0.3, (30, 64))
    dom = fit_domain(train, groups)
    held_out = rng.normal(0, 1, (20, 64)) + rng.normal(0, 0.3, (20, 64))
    far = rng.normal(0, 1, (5, 64)) * 6 + 10
    inside = dom.score(held_out) <= dom.threshold
    assert inside.mean() >= 0.8
    assert (dom.score(far) > dom.threshold).all()
    assert dom.oof_scores.shape == (30,)
    assert dom.threshold == pytest.approx(np.quantile(dom.oof_scores, 0.99))


def test_domain_model_round_trips_without_pickle(tmp_path):
    rng = np.random.default_rng(2)
    dom = fit_domain(rng.normal(size=(8, 5)), np.arange(8) // 2, k=3)
    dom.save(tmp_path)
    back = load_domain(tmp_path)
    assert back is not None and back.k == 3 and back.threshold == dom.threshold
    x = rng.normal(size=(4, 5))
    assert np.allclose(back.score(x), dom.score(x))
    assert load_domain(tmp_path / "nothing-here") is None


def test_shortcut_verdict():
    # nuisance 0.95 against an image model of 1.0, chance 0.5, 40 images: warn
    hit = shortcut_verdict(
        1.0, 0.95, task="classify", chance=0.5, image_interval=[0.91, 1.0], nuisance_interval=[0.83, 0.99]
    )
    assert hit["warning"] and SHORTCUT_MESSAGE in hit["message"]
    assert hit["ratio_above_chance"] == pytest.approx(0.9)
    # nuisance at chance: no warning
    miss = shortcut_verdict(
        1.0, 0.5, task="classify", chance=0.5, image_interval=[0.91, 1.0], nuisance_interval=[0.35, 0.65]
    )
    assert not miss["warning"] and miss["message"] is None
    # both near chance: no warning even though the ratio is high
    low = shortcut_verdict(
        0.55, 0.55, task="classify", chance=0.5, image_interval=[0.4, 0.7], nuisance_interval=[0.4, 0.7]
    )
    assert not low["warning"]
    # regression: R² 0.8 from nuisance against 0.85
    assert shortcut_verdict(0.85, 0.8, task="regress", chance=0.0, nuisance_interval=[0.6, 0.9])["warning"]


# --------------------------------------------------------------------------- on a workspace


def _drawing(shape: tuple[int, int] = (256, 256)) -> np.ndarray:
    """A non-SEM image: black lines, a box and text on white (a rendered figure)."""
    from PIL import Image, ImageDraw

    img = Image.new("L", (shape[1], shape[0]), 255)
    d = ImageDraw.Draw(img)
    for k in range(8):
        d.line([(10, 20 + 28 * k), (shape[1] - 10, 30 + 25 * k)], fill=0, width=3)
    d.text((30, 120), "Figure 3: TEM of TiO2", fill=0)
    d.rectangle([60, 150, 200, 230], outline=0, width=4)
    return np.asarray(img)


@pytest.fixture(scope="module")
def limits_run(series_ws, tmp_path_factory):
    from semlab.learn import train_workspace

    out = tmp_path_factory.mktemp("limits") / "run"
    return train_workspace(
        series_ws, target="burst_count", model="logreg", folds=2, out=out, feature_set="final"
    )


def test_run_records_calibration_domain_comparison_and_model_info(limits_run):
    import json

    from semlab.learn import load_predictor

    run = limits_run.run_dir
    m = json.loads((run / "metrics.json").read_text())
    cal = m["calibration"]
    assert cal["temperature"] > 0 and cal["n"] == 16 and cal["n_bins"] == 10
    assert cal["ece_after"] <= cal["ece_before"] + 1e-9  # the NLL fit, scored on the same rows
    assert sum(b["count"] for b in cal["reliability"]["before"]) == 16
    assert (run / "reliability.png").is_file() and (run / "domain.npz").is_file()
    assert set(m["feature_sets"]) == {"final", "nuisance"} and m["feature_sets"]["final"]["chosen"]
    assert m["feature_sets"]["final"]["image_score"] == m["image"]["accuracy"]
    sc = m["shortcut"]
    assert sc["chance"] == 0.25 and sc["nuisance_score"] == m["feature_sets"]["nuisance"]["image_score"]
    cfg = json.loads((run / "config.json").read_text())["extra"]["run"]
    assert cfg["feature_set"] == "final" and cfg["calibration"]["temperature"] == cal["temperature"]
    assert cfg["domain"]["threshold"] == m["domain"]["threshold"] > 0
    info = load_predictor(run).info()
    assert info["name"] == run.name and info["target"] == "burst_count" and info["task"] == "classify"
    assert info["cv_score"] == m["image"]["accuracy"] and info["feature_set"] == "final"
    assert info["created"] and info["temperature"] == cal["temperature"]
    assert any(line.startswith("calibration: temperature") for line in limits_run.summary_lines())


@pytest.mark.slow
def test_black_frame_and_drawing_are_outside_the_domain(limits_run, tmp_path):
    """Held-out series images (another seed) stay inside the training domain; a black frame and a
    rendered line drawing at the same pixel size are flagged, and the quality check marks the frame."""
    from semlab.data import sintering_series
    from semlab.io import Micrograph, read_micrograph
    from semlab.learn import load_predictor

    sintering_series(tmp_path / "new", shape=(256, 256), samples_per_level=1, images_per_sample=1, seed=7)
    held = [read_micrograph(f) for f in sorted((tmp_path / "new" / "images").glob("*.tif"))]
    ps = held[0].pixel_size
    odd = [Micrograph(np.zeros((256, 256), np.uint8), ps, {}), Micrograph(_drawing(), ps, {})]
    p = load_predictor(limits_run.run_dir)
    out = p.predict(held + odd, names=[f"held{k}" for k in range(len(held))] + ["black", "drawing"])
    for col in ("domain_score", "domain_threshold", "in_domain", "quality_flags", "quality_messages"):
        assert col in out.columns
    inside = out["in_domain"].iloc[: len(held)].astype(bool)
    assert inside.mean() >= 0.75, out[["image", "domain_score", "domain_threshold"]]
    assert not out.loc[out["image"] == "black", "in_domain"].item()
    assert not out.loc[out["image"] == "drawing", "in_domain"].item()
    # measured: held-out ≤ 0.24 × threshold, black 3.5 ×, drawing 5.9 × (logreg, 2 folds)
    thr = out["domain_threshold"].iloc[0]
    assert out["domain_score"].iloc[-2:].min() > 1.5 * thr
    assert "blank" in out.loc[out["image"] == "black", "quality_flags"].item()
    assert out["quality_flags"].iloc[: len(held)].eq("").all()
    assert np.allclose(out[[f"p_{c}" for c in p.classes]].sum(axis=1), 1.0)


def test_cli_predict_names_the_model_and_flags_the_black_frame(limits_run, tmp_path, capsys):
    import json

    from semlab.cli import main
    from semlab.io import write_micrograph

    path = tmp_path / "black.tif"
    write_micrograph(path, np.zeros((256, 256), np.uint8), pixel_size=0.008)
    code = main(["predict", str(limits_run.run_dir), str(path), "--out", str(tmp_path / "p.json")])
    text = capsys.readouterr().out
    assert code == 0, text
    assert f"model: {limits_run.run_dir.name}" in text and "held-out image accuracy" in text
    assert "OUTSIDE THE TRAINING DOMAIN" in text and "image flagged: blank" in text
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["model"]["target"] == "burst_count"
    row = doc["predictions"][0]
    assert row["in_domain"] is False and row["domain_score"] > row["domain_threshold"]


def _two_class_ws(root, *, shortcut: bool, seed: int = 0):
    """16 images (8 samples per class, 96 px, 0.05 µm/px).  ``shortcut``: both classes share a
    noise texture and only the brightness tells them apart.  Otherwise the class is the stripe
    orientation and the brightness is random in both classes."""
    from scipy.ndimage import gaussian_filter

    from semlab.dataset import Workspace
    from semlab.features import embed_workspace
    from semlab.io import write_micrograph
    from semlab.preprocess import Preparation

    rng = np.random.default_rng(seed)
    (root / "img").mkdir(parents=True)
    lines = ["image,sample,label"]
    yy, xx = np.mgrid[:96, :96]
    for s in range(16):
        c = s % 2
        noise = gaussian_filter(rng.normal(0, 1, (96, 96)), 1.5)
        noise /= noise.std()
        if shortcut:
            level, tex = (0.3 if c == 0 else 0.7), noise
        else:
            phase = rng.uniform(0, 2 * np.pi)
            tex = np.sin((yy if c == 0 else xx) * 2 * np.pi / 8 + phase) + 0.5 * noise
            level = rng.uniform(0.3, 0.7)
        img = np.clip(level + 0.1 * tex, 0, 1)
        write_micrograph(root / "img" / f"s{s:02d}.tif", (img * 255).astype(np.uint8), pixel_size=0.05)
        lines.append(f"img/s{s:02d}.tif,S{s:02d},{'AB'[c]}")
    (root / "table.csv").write_text("\n".join(lines) + "\n")
    ws = Workspace.init(root / "ws")
    ws.add(table=root / "table.csv", images_dir=root)
    embed_workspace(
        ws, backbone="efficientnet_lite0", preparation=Preparation(patch_size=96, patches_per_image=1)
    )
    return ws


@pytest.mark.slow
@pytest.mark.parametrize("shortcut", [True, False])
def test_shortcut_check_fires_only_when_brightness_gives_the_class_away(shortcut, tmp_path, one_torch_thread):
    from semlab.learn import train_workspace

    ws = _two_class_ws(tmp_path, shortcut=shortcut)
    res = train_workspace(ws, target="label", model="logreg", folds=4, out=tmp_path / "run", permutations=0)
    sc = res.metrics["shortcut"]
    assert sc["warning"] is shortcut, sc
    text = "\n".join(res.summary_lines())
    assert (SHORTCUT_MESSAGE in text) is shortcut
    if shortcut:
        assert sc["nuisance_score"] >= 0.9  # brightness alone separates the classes
        assert text.splitlines()[1].startswith("WARNING")
    else:
        assert sc["nuisance_score"] <= 0.75 and res.metrics["image"]["accuracy"] >= 0.75


def test_a_temperature_that_raises_the_ece_is_not_applied():
    """15 right at 0.9 and one confident miss: the likelihood fit softens everything (T > 1) and
    makes the ECE worse, so the report keeps temperature 1 and says why."""
    p = np.tile([0.9, 0.1], (16, 1))
    y = np.zeros(16, int)
    y[0] = 1
    p[0] = [0.99, 0.01]
    assert fit_temperature(p, y) > 1.0
    rep = calibration_report(p, y)
    assert rep["temperature"] == 1.0 and rep["fitted_temperature"] > 1.0
    assert rep["ece_after"] == rep["ece_before"] and "raised the ECE" in rep["note"]


@pytest.mark.slow
def test_an_image_at_twice_the_magnification_is_predicted_inside_the_domain(limits_run, series_ws):
    """The run's recipe resamples a 2× zoomed micrograph (half the pixel size) back to the training
    scale: it is predicted, with a finite domain score inside the threshold like its original."""
    from semlab.dataset import Workspace
    from semlab.io import Micrograph
    from semlab.learn import load_predictor
    from semlab.preprocess import resample

    ws = Workspace.open(series_ws)
    m = ws.read(ws.table()["hash"].iloc[0])
    zoomed = Micrograph(resample(m.image, m.pixel_size, m.pixel_size / 2), m.pixel_size / 2, {})
    out = load_predictor(limits_run.run_dir).predict([m, zoomed], names=["original", "zoomed"])
    assert out["n_patches"].min() > 0 and np.isfinite(out["domain_score"]).all()
    assert out["in_domain"].astype(bool).all(), out[["image", "domain_score", "domain_threshold"]]


@pytest.mark.slow
def test_default_comparison_takes_the_sets_embedded_before(tmp_path, one_torch_thread):
    from semlab.learn import train_workspace

    ws = _two_class_ws(tmp_path, shortcut=False)
    kw = {"target": "label", "model": "logreg", "folds": 4, "permutations": 0, "feature_set": "final"}
    first = train_workspace(ws, out=tmp_path / "a", **kw)
    assert {"final", "nuisance"} <= set(first.metrics["feature_sets"])
    assert "texture" not in first.metrics["feature_sets"]
    train_workspace(ws, out=tmp_path / "b", compare="texture", **kw)
    again = train_workspace(ws, out=tmp_path / "c", **kw)
    assert set(first.metrics["feature_sets"]) | {"texture"} <= set(again.metrics["feature_sets"])
    # the same grouped splits: the chosen set's score does not depend on what it is compared with
    assert again.metrics["feature_sets"]["final"] == first.metrics["feature_sets"]["final"]
    assert again.metrics["feature_sets"]["final"]["chosen"]
    none = train_workspace(ws, out=tmp_path / "d", compare="none", **kw)
    assert set(none.metrics["feature_sets"]) == {"final"} and "shortcut" not in none.metrics
